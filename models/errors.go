package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

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

// Unavailable reports whether err means the database could not be reached
// or used (closed pool, broken or refused connection, server shutting
// down, timeout), as opposed to an answer about the data (ErrNotFound,
// ErrConflict, ErrExpired, ErrInvalid). Callers answer it as a temporary
// server failure (503 with Retry-After), never as the client's fault.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	var sqlState interface{ SQLState() string }
	switch {
	case errors.Is(err, sql.ErrConnDone), errors.Is(err, driver.ErrBadConn), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &netErr):
		return true
	case errors.As(err, &sqlState):
		// Class 08: connection exception; 57P: operator intervention
		// (shutdown, terminated backend); 53: insufficient resources
		// (53100 disk_full); 25006 read_only_sql_transaction: the
		// connection reached a standby (a failover in progress).
		st := sqlState.SQLState()
		return strings.HasPrefix(st, "08") || strings.HasPrefix(st, "57P") || strings.HasPrefix(st, "53") || st == "25006"
	}
	// database/sql and the drivers say so only in words.
	msg := err.Error()
	for _, s := range []string{"sql: database is closed", "conn closed", "connection refused", "failed to connect", "database is locked"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
