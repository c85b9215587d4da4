package models

import (
	"errors"

	"gorm.io/gorm"
)

// Sentinel errors returned by the repository; test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrExpired  = errors.New("expired")
)

// translate maps driver and GORM errors to the package sentinels.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey), errors.Is(err, gorm.ErrForeignKeyViolated):
		return errors.Join(ErrConflict, err)
	}
	return err
}
