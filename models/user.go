package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// User is an account. ID is a random UUID (the OIDC sub); WebAuthnID is the
// random user handle given to authenticators (never the username or email,
// WebAuthn L3 §14.6.1 "User Handle Contents").
type User struct {
	ID            string `gorm:"primaryKey"`
	WebAuthnID    []byte `gorm:"column:webauthn_id"`
	Username      string
	Email         string
	EmailVerified bool
	DisplayName   string
	Disabled      bool
	IsAdmin       bool
	CustomClaims  JSONMap
	// ExternalID is the SCIM client's identifier of the user (RFC 7643
	// §3.1); the hand-written hot-path reads (raw.go) leave it empty.
	ExternalID string
	// Locale is the user's chosen language (a tag of internal/i18n), ""
	// when none was chosen; the hot-path reads (raw.go) read it too: it is
	// the profile scope's locale claim (oidc/userinfo.go).
	Locale    string
	CreatedAt time.Time
	UpdatedAt time.Time
	Groups    []Group `gorm:"many2many:user_groups"`
}

// Group is a named set of users; its name appears in the groups claim.
type Group struct {
	ID         string `gorm:"primaryKey"`
	Name       string
	ExternalID string // the SCIM client's identifier (RFC 7643 §3.1)
	// RecoveryDisabled: members may not recover their account by email.
	RecoveryDisabled bool
	CreatedAt        time.Time
}

// NewUUID returns a random (version 4) UUID string.
func NewUUID() string { return uuid.NewString() }

// NewTimeOrderedID returns a version 7 UUID (RFC 9562 §5.7): 48 bits of
// milliseconds then 74 random bits. Rows keyed by it are appended at the
// right edge of the primary key index, so a burst of inserts (tokens)
// dirties one index page instead of one random page each — fewer pages
// written per commit. Use it only where the creation time may be public
// (a token's jti sits next to its iat anyway).
func NewTimeOrderedID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// newUserHandle returns 64 random bytes (WebAuthn allows at most 64).
func newUserHandle() []byte {
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// ErrInvalid wraps validation failures of user-supplied values.
var ErrInvalid = errors.New("invalid")

// NormalizeUsername lowercases and trims a username and checks its shape:
// 1–64 characters of letters, digits, '.', '_', '-', '@'.
func NormalizeUsername(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 64 {
		return "", fmt.Errorf("%w: username must be 1 to 64 characters", ErrInvalid)
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && !strings.ContainsRune("._-@", r) {
			return "", fmt.Errorf("%w: username may contain only letters, digits and . _ - @", ErrInvalid)
		}
	}
	return s, nil
}

// NormalizeEmail trims an email address and checks its shape: empty (no
// address), or at most 254 characters with an '@'.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s != "" && (!strings.Contains(s, "@") || len(s) > 254) {
		return "", fmt.Errorf("%w: email %q is not an address", ErrInvalid, s)
	}
	return s, nil
}

// CreateUser inserts u, filling ID and WebAuthnID. The username is
// normalised; a taken username returns ErrConflict.
func (db *UserStore) CreateUser(ctx context.Context, u *User) error {
	name, err := NormalizeUsername(u.Username)
	if err != nil {
		return err
	}
	u.Username = name
	// One plain address and a name without control characters, whoever
	// creates the user (console, API, CLI, SCIM, sign-up): both go into
	// the To header of every message (header injection, RFC 5322 §2.2).
	if u.Email, err = CheckEmail(u.Email); err != nil {
		return err
	}
	if u.DisplayName, err = CheckDisplayName(u.DisplayName); err != nil {
		return err
	}
	if u.ID == "" {
		u.ID = NewUUID()
	}
	if len(u.WebAuthnID) == 0 {
		u.WebAuthnID = newUserHandle()
	}
	if u.CustomClaims == nil {
		u.CustomClaims = JSONMap{}
	}
	if err := db.ctx(ctx).Omit(clause.Associations).Create(u).Error; err != nil {
		if errors.Is(translate(err), ErrConflict) {
			return fmt.Errorf("%w: username %q is taken", ErrConflict, u.Username)
		}
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByID loads a user with its groups.
func (db *UserStore) UserByID(ctx context.Context, id string) (*User, error) {
	var u User
	if err := db.ctx(ctx).Preload("Groups").First(&u, "id = ?", id).Error; err != nil {
		return nil, fmt.Errorf("load user %q: %w", id, translate(err))
	}
	return &u, nil
}

// LiveUser loads the user if it is enabled and, when sessionID is set, that
// session has not ended; otherwise ErrNotFound. It is the liveness check
// of every refresh, userinfo, introspection and code exchange (instant
// revocation) and the load of the user's claims in one statement. Groups
// are loaded (one more statement) only if withGroups.
func (db *UserStore) LiveUser(ctx context.Context, userID, sessionID string, withGroups bool) (*User, error) {
	if !withGroups { // the hot path, hand-written (raw.go)
		var u User
		var err error
		if sessionID == "" {
			err = scanUser(db.rawRow(ctx, db.rawPool(false), "SELECT "+userColumns+" FROM users WHERE id = ? AND disabled = ?", userID, false), &u)
		} else {
			err = scanUser(db.rawRow(ctx, db.rawPool(false), "SELECT "+userColumns+" FROM users WHERE id = ? AND disabled = ?"+
				" AND EXISTS (SELECT 1 FROM sessions WHERE sessions.id = ? AND sessions.ended_at IS NULL)", userID, false, sessionID), &u)
		}
		if err != nil {
			return nil, fmt.Errorf("live user %q: %w", userID, db.rawErr(err))
		}
		return &u, nil
	}
	q := db.ctx(ctx)
	if withGroups {
		q = q.Preload("Groups")
	}
	q = q.Where("id = ? AND disabled = ?", userID, false)
	if sessionID != "" {
		q = q.Where("EXISTS (SELECT 1 FROM sessions WHERE sessions.id = ? AND sessions.ended_at IS NULL)", sessionID)
	}
	var u User
	if err := q.First(&u).Error; err != nil {
		return nil, fmt.Errorf("live user %q: %w", userID, translate(err))
	}
	return &u, nil
}

// UserByUsername loads a user by (normalised) username.
func (db *UserStore) UserByUsername(ctx context.Context, username string) (*User, error) {
	var u User
	name := strings.ToLower(strings.TrimSpace(username))
	if err := db.ctx(ctx).Preload("Groups").First(&u, "username = ?", name).Error; err != nil {
		return nil, fmt.Errorf("load user %q: %w", username, translate(err))
	}
	return &u, nil
}

// UserByWebAuthnID loads the user owning a WebAuthn user handle.
func (db *UserStore) UserByWebAuthnID(ctx context.Context, handle []byte) (*User, error) {
	var u User
	if err := scanUser(db.rawRow(ctx, db.rawPool(false), "SELECT "+userColumns+" FROM users WHERE webauthn_id = ?", handle), &u); err != nil { // raw.go
		return nil, fmt.Errorf("load user by handle: %w", db.rawErr(err))
	}
	return &u, nil
}

// CountAdmins returns the number of enabled admin users.
func (db *UserStore) CountAdmins(ctx context.Context) (int64, error) {
	var n int64
	err := db.ctx(ctx).Model(&User{}).Where("is_admin = ? AND disabled = ?", true, false).Count(&n).Error
	return n, translate(err)
}

// SetUserDisabled disables or enables a user. Disabling ends every browser
// session and revokes every refresh and access token of the user in the same
// transaction, so nothing issued before keeps working.
func (db *UserStore) SetUserDisabled(ctx context.Context, id string, disabled bool) error {
	return db.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{"disabled": disabled, "updated_at": db.Now()})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("user %q: %w", id, ErrNotFound)
		}
		if !disabled {
			return nil
		}
		return db.revokeUserTx(tx, id)
	})
}

func (db *conn) revokeUserTx(tx *gorm.DB, userID string) error {
	now := db.Now()
	var live []string
	if err := tx.Model(&Session{}).Where("user_id = ? AND ended_at IS NULL", userID).Pluck("id", &live).Error; err != nil {
		return err
	}
	if err := tx.Model(&Session{}).Where("user_id = ? AND ended_at IS NULL", userID).Update("ended_at", now).Error; err != nil {
		return err
	}
	if err := db.queueBackchannelTx(tx, live); err != nil { // backchannel.go
		return err
	}
	return revokeGrantsTx(tx, "user_id = ?", userID) // grant.go
}

// SetUserGroups replaces the user's group memberships by group names,
// creating groups that do not exist yet.
func (db *UserStore) SetUserGroups(ctx context.Context, userID string, names []string) error {
	return db.transaction(ctx, func(tx *gorm.DB) error {
		var groups []Group
		for _, n := range names {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			g := Group{ID: groupID(n), Name: n, CreatedAt: db.Now()}
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&g).Error; err != nil {
				return translate(err)
			}
			// Load into a fresh value: a renamed group keeps the ID derived
			// from its old name, so the derived ID must not constrain the query.
			var stored Group
			if err := tx.First(&stored, "name = ?", n).Error; err != nil {
				return translate(err)
			}
			groups = append(groups, stored)
		}
		u := User{ID: userID}
		return translate(tx.Model(&u).Association("Groups").Replace(groups))
	})
}

// groupID derives a stable ID from a group name so concurrent creators agree.
func groupID(name string) string {
	h := sha256.Sum256([]byte("group:" + name))
	return fmt.Sprintf("%x", h[:16])
}

// GroupNames returns the names of the user's groups, sorted.
func (u *User) GroupNames() []string {
	out := make([]string, 0, len(u.Groups))
	for _, g := range u.Groups {
		out = append(out, g.Name)
	}
	return out
}

// AdminSignInState tells start-up whether an admin can sign in: ready is
// true when an enabled admin has a passkey; otherwise candidate is the
// enabled admin a first setup link should go to (the one named
// "admin" first, else the first by username), or nil when there is none.
// It reads the admins only (idx_users_admins), never the whole users
// table.
func (db *UserStore) AdminSignInState(ctx context.Context, preferred string) (ready bool, candidate *User, err error) {
	// The predicates are literal, not bound: SQLite uses a partial index
	// only when the query's WHERE implies the index's (is_admin).
	var ids []string
	err = db.ctx(ctx).Raw(adminWithPasskeySQL).Scan(&ids).Error
	if err != nil {
		return false, nil, translate(err)
	}
	if len(ids) > 0 {
		return true, nil, nil
	}
	var us []User
	err = db.ctx(ctx).Raw(adminCandidateSQL, preferred).Scan(&us).Error
	if err != nil || len(us) == 0 {
		return false, nil, translate(err)
	}
	return false, &us[0], nil
}

const (
	adminWithPasskeySQL = "SELECT id FROM users WHERE is_admin AND NOT disabled" +
		" AND EXISTS (SELECT 1 FROM credentials c WHERE c.user_id = users.id) LIMIT 1"
	adminCandidateSQL = "SELECT * FROM users WHERE is_admin AND NOT disabled" +
		" ORDER BY CASE WHEN username = ? THEN 0 ELSE 1 END, username LIMIT 1"
)

// UserLocale returns the user's chosen language ("" when none).
func (db *UserStore) UserLocale(ctx context.Context, id string) (string, error) {
	var rows []string
	if err := db.ctx(ctx).Model(&User{}).Where("id = ?", id).Limit(1).Pluck("locale", &rows).Error; err != nil {
		return "", fmt.Errorf("user locale: %w", translate(err))
	}
	if len(rows) == 0 {
		return "", fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	return rows[0], nil
}

// SetUserLocale saves the user's chosen language; the caller checks that
// it is a shipped one.
func (db *UserStore) SetUserLocale(ctx context.Context, id, locale string) error {
	res := db.ctx(ctx).Model(&User{}).Where("id = ?", id).Updates(map[string]any{"locale": locale, "updated_at": db.Now()})
	if res.Error != nil {
		return fmt.Errorf("set user locale: %w", translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	return nil
}
