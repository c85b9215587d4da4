package models

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
)

// MaxDisplayNameLength bounds a display name, in characters.
const MaxDisplayNameLength = 128

// UserEdit is an admin's change to a user: a nil field keeps its value.
type UserEdit struct {
	Username      *string
	Email         *string
	EmailVerified *bool
	DisplayName   *string
	IsAdmin       *bool
	Disabled      *bool
	CustomClaims  *JSONMap
	// Locale is the language of the user's pages and emails (a tag the
	// caller checked against internal/i18n; "" for the browser's choice).
	Locale *string
	// Groups replaces the user's memberships by group names; an empty
	// list removes every membership.
	Groups *[]string
	// CreateGroups creates the groups of Groups that do not exist;
	// without it an unknown group name is ErrInvalid.
	CreateGroups bool
}

// User fields as EditUser names them in its list of changes (and the audit
// log records them).
const (
	FieldUsername      = "username"
	FieldEmail         = "email"
	FieldEmailVerified = "email_verified"
	FieldDisplayName   = "display_name"
	FieldAdmin         = "admin"
	FieldDisabled      = "disabled"
	FieldCustomClaims  = "custom_claims"
	FieldLocale        = "locale"
	FieldGroups        = "groups"
)

// localeShape is a language tag as users.locale holds it: empty, or a
// base language with an optional region (BCP 47, RFC 5646 §2.1), short.
var localeShape = regexp.MustCompile(`^([a-z]{2,3}(-[A-Za-z0-9]{2,8})?)?$`)

// CheckDisplayName trims a display name and checks it: at most
// MaxDisplayNameLength characters, no control characters.
func CheckDisplayName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxDisplayNameLength {
		return "", fmt.Errorf("%w: the name is longer than %d characters", ErrInvalid, MaxDisplayNameLength)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 || !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: the name contains control characters", ErrInvalid)
	}
	return s, nil
}

// CheckEmail trims an email address and checks it more strictly than
// NormalizeEmail: empty (no address) or one plain address (RFC 5322
// §3.4.1 addr-spec: local part, "@", domain), without a display name,
// spaces or angle brackets.
func CheckEmail(s string) (string, error) {
	s, err := NormalizeEmail(s)
	if err != nil || s == "" {
		return s, err
	}
	a, perr := mail.ParseAddress(s)
	local, domain, ok := strings.Cut(s, "@")
	if perr != nil || a.Address != s || a.Name != "" || !ok || local == "" || domain == "" ||
		strings.ContainsAny(s, " <>\t\r\n") {
		return "", fmt.Errorf("%w: email %q is not an address", ErrInvalid, s)
	}
	return s, nil
}

// EditUser applies e to the user id in one transaction and returns the
// fields that changed (Field* names, in a fixed order; none when every
// given value was the stored one). Everything is checked before anything
// is written: a bad value changes nothing. Disabling ends every browser
// session and revokes every token of the user, as SetUserDisabled does;
// removing the admin role from, or disabling, the last enabled admin is
// ErrLastAdmin. Errors: ErrNotFound, ErrInvalid, ErrConflict (username
// taken).
func (db *UserStore) EditUser(ctx context.Context, id string, e UserEdit) ([]string, error) {
	var err error
	if e.Username != nil {
		var v string
		if v, err = NormalizeUsername(*e.Username); err != nil {
			return nil, err
		}
		e.Username = &v
	}
	if e.Email != nil {
		var v string
		if v, err = CheckEmail(*e.Email); err != nil {
			return nil, err
		}
		e.Email = &v
	}
	if e.DisplayName != nil {
		var v string
		if v, err = CheckDisplayName(*e.DisplayName); err != nil {
			return nil, err
		}
		e.DisplayName = &v
	}
	if e.CustomClaims != nil {
		if *e.CustomClaims == nil {
			e.CustomClaims = &JSONMap{}
		}
		if err := CheckCustomClaims(*e.CustomClaims); err != nil {
			return nil, err
		}
	}
	if e.Locale != nil && !localeShape.MatchString(*e.Locale) {
		return nil, fmt.Errorf("%w: %q is not a language tag", ErrInvalid, *e.Locale)
	}
	var groupNames []string
	if e.Groups != nil {
		for _, n := range *e.Groups {
			n, err := NormalizeGroupName(n)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(groupNames, n) {
				groupNames = append(groupNames, n)
			}
		}
	}
	var changed []string
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		changed = nil // a retried transaction starts again
		var u User
		if err := tx.Preload("Groups").First(&u, "id = ?", id).Error; err != nil {
			return fmt.Errorf("user %q: %w", id, translate(err))
		}
		cols := map[string]any{}
		set := func(field, col string, differs bool, v any) {
			if differs {
				changed = append(changed, field)
				cols[col] = v
			}
		}
		if e.Username != nil {
			set(FieldUsername, "username", *e.Username != u.Username, *e.Username)
		}
		if e.Email != nil {
			set(FieldEmail, "email", *e.Email != u.Email, *e.Email)
		}
		if e.EmailVerified != nil {
			set(FieldEmailVerified, "email_verified", *e.EmailVerified != u.EmailVerified, *e.EmailVerified)
		}
		if e.DisplayName != nil {
			set(FieldDisplayName, "display_name", *e.DisplayName != u.DisplayName, *e.DisplayName)
		}
		if e.IsAdmin != nil {
			set(FieldAdmin, "is_admin", *e.IsAdmin != u.IsAdmin, *e.IsAdmin)
		}
		if e.Disabled != nil {
			set(FieldDisabled, "disabled", *e.Disabled != u.Disabled, *e.Disabled)
		}
		if e.Locale != nil {
			set(FieldLocale, "locale", *e.Locale != u.Locale, *e.Locale)
		}
		if e.CustomClaims != nil {
			set(FieldCustomClaims, "custom_claims", !sameJSON(*e.CustomClaims, u.CustomClaims), *e.CustomClaims)
		}
		stillAdmin := u.IsAdmin && (e.IsAdmin == nil || *e.IsAdmin)
		stillEnabled := !u.Disabled && (e.Disabled == nil || !*e.Disabled)
		if u.IsAdmin && !u.Disabled && (!stillAdmin || !stillEnabled) {
			if err := lastAdminCheck(tx, id); err != nil {
				return err
			}
		}
		var groups []Group
		if e.Groups != nil {
			for _, n := range groupNames {
				var g Group
				err := tx.First(&g, "name = ?", n).Error
				if errors.Is(err, gorm.ErrRecordNotFound) && e.CreateGroups {
					g = Group{ID: NewUUID(), Name: n, CreatedAt: db.Now()}
					err = tx.Create(&g).Error
				} else if errors.Is(err, gorm.ErrRecordNotFound) {
					return fmt.Errorf("%w: there is no group named %q", ErrInvalid, n)
				}
				if err != nil {
					return translate(err)
				}
				groups = append(groups, g)
			}
			if !slices.Equal(sortedNames(groups), sortedNames(u.Groups)) {
				changed = append(changed, FieldGroups)
			}
		}
		if len(cols) > 0 {
			cols["updated_at"] = db.Now()
			if err := tx.Model(&User{}).Where("id = ?", id).Updates(cols).Error; err != nil {
				if errors.Is(translate(err), ErrConflict) {
					return fmt.Errorf("%w: username %q is taken", ErrConflict, *e.Username)
				}
				return translate(err)
			}
		}
		if slices.Contains(changed, FieldGroups) {
			if err := tx.Exec("DELETE FROM user_groups WHERE user_id = ?", id).Error; err != nil {
				return translate(err)
			}
			for _, g := range groups {
				if err := tx.Exec("INSERT INTO user_groups (user_id, group_id) VALUES (?, ?)", id, g.ID).Error; err != nil {
					return translate(err)
				}
			}
			if len(cols) == 0 { // the claims changed: so did the user
				if err := tx.Model(&User{}).Where("id = ?", id).Update("updated_at", db.Now()).Error; err != nil {
					return translate(err)
				}
			}
		}
		if e.Disabled != nil && *e.Disabled && !u.Disabled {
			return translate(db.revokeUserTx(tx, id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

func sortedNames(gs []Group) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Name
	}
	slices.Sort(out)
	return out
}

// sameJSON reports whether two claim maps hold the same JSON.
func sameJSON(a, b JSONMap) bool {
	x, errA := a.Value()
	y, errB := b.Value()
	return errA == nil && errB == nil && fmt.Sprint(x) == fmt.Sprint(y)
}
