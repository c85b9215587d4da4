package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrUsedUp is returned for a sign-up link whose uses are all spent.
var ErrUsedUp = errors.New("used up")

// Audit events of sign-up links (CLI, console, API).
const (
	EventSignupLinkAdded   = "signup_link_added" //nolint:gosec // G101: an audit event name, not a credential
	EventSignupLinkRevoked = "signup_link_revoked"
)

// SignupLinkPrefix starts every sign-up link token, so that one is never
// mistaken for a setup link (and the reverse).
const SignupLinkPrefix = "lku_"

// MaxSignupLinkUses bounds the uses of one sign-up link.
const MaxSignupLinkUses = 10000

// SignupLink lets up to MaxUses people sign up until ExpiresAt (the
// invite policy). Only the SHA-256 of its token is stored.
type SignupLink struct {
	ID        string `gorm:"primaryKey"`
	TokenHash []byte
	MaxUses   int
	Uses      int
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// State is "active", "expired", "used up" or "revoked".
func (l *SignupLink) State(now time.Time) string {
	switch {
	case l.RevokedAt != nil:
		return "revoked"
	case !now.Before(l.ExpiresAt):
		return "expired"
	case l.Uses >= l.MaxUses:
		return "used up"
	}
	return "active"
}

// Signup is an account made by the sign-up page, waiting until its owner
// opens the verification link (a setup link created by "signup") and
// creates the first passkey. An unverified one is purged with its account
// once ExpiresAt has passed.
type Signup struct {
	UserID       string `gorm:"primaryKey"`
	SignupLinkID string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	VerifiedAt   *time.Time
}

// SetupBySignup is the CreatedBy of a setup link sent to verify a
// sign-up's address; opening it and creating a passkey verifies the
// address (consumeSetupTokenTx).
const SetupBySignup = "signup"

// CreateSignupLink stores a new sign-up link for maxUses sign-ups within
// ttl and returns its token, shown once. Errors: ErrInvalid.
func (db *UserStore) CreateSignupLink(ctx context.Context, maxUses int, ttl time.Duration, createdBy string) (string, *SignupLink, error) {
	if maxUses < 1 || maxUses > MaxSignupLinkUses {
		return "", nil, fmt.Errorf("%w: a sign-up link allows 1 to %d uses", ErrInvalid, MaxSignupLinkUses)
	}
	if ttl < time.Minute || ttl > 366*24*time.Hour {
		return "", nil, fmt.Errorf("%w: a sign-up link lasts from one minute to a year", ErrInvalid)
	}
	raw := SignupLinkPrefix + NewToken()
	now := db.Now()
	l := &SignupLink{ID: NewUUID(), TokenHash: HashToken(raw), MaxUses: maxUses, CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := db.ctx(ctx).Create(l).Error; err != nil {
		return "", nil, fmt.Errorf("create sign-up link: %w", translate(err))
	}
	return raw, l, nil
}

// SignupLinks lists the newest sign-up links first (at most limit).
func (db *UserStore) SignupLinks(ctx context.Context, limit int) ([]SignupLink, error) {
	var out []SignupLink
	err := db.ctx(ctx).Order("created_at DESC, id DESC").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// RevokeSignupLink stops a sign-up link at once. Errors: ErrNotFound
// (unknown or already revoked).
func (db *UserStore) RevokeSignupLink(ctx context.Context, id string) error {
	res := db.ctx(ctx).Model(&SignupLink{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", db.Now())
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("sign-up link %q unknown or already revoked: %w", id, ErrNotFound)
	}
	return nil
}

// SignupLinkByRaw returns the usable sign-up link of raw. Errors:
// ErrNotFound (unknown or revoked), ErrExpired, ErrUsedUp.
func (db *UserStore) SignupLinkByRaw(ctx context.Context, raw string) (*SignupLink, error) {
	var l SignupLink
	if err := db.ctx(ctx).First(&l, "token_hash = ?", HashToken(raw)).Error; err != nil {
		return nil, fmt.Errorf("sign-up link: %w", translate(err))
	}
	switch l.State(db.Now()) {
	case "revoked":
		return nil, fmt.Errorf("sign-up link revoked: %w", ErrNotFound)
	case "expired":
		return nil, fmt.Errorf("sign-up link: %w", ErrExpired)
	case "used up":
		return nil, fmt.Errorf("sign-up link: %w", ErrUsedUp)
	}
	return &l, nil
}

// SpendSignupLink counts one use of the link if it is still usable;
// exactly as many callers as it has uses left succeed. Errors: ErrUsedUp
// (used up, expired or revoked meanwhile).
func (db *UserStore) SpendSignupLink(ctx context.Context, id string) error {
	now := db.Now()
	res := db.ctx(ctx).Model(&SignupLink{}).Where("id = ? AND uses < max_uses AND revoked_at IS NULL AND expires_at > ?", id, now).
		Update("uses", gorm.Expr("uses + 1"))
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("sign-up link: %w", ErrUsedUp)
	}
	return nil
}

// CreateSignupAccount creates u (CreateUser) with its pending sign-up,
// which expires at expiresAt unless verified. Errors: as CreateUser.
func (db *UserStore) CreateSignupAccount(ctx context.Context, u *User, linkID string, expiresAt time.Time) error {
	if err := db.CreateUser(ctx, u); err != nil {
		return err
	}
	s := &Signup{UserID: u.ID, SignupLinkID: linkID, CreatedAt: db.Now(), ExpiresAt: expiresAt}
	return translate(db.ctx(ctx).Create(s).Error)
}

// PendingSignup returns the unverified sign-up of userID. Errors:
// ErrNotFound (none, or verified).
func (db *UserStore) PendingSignup(ctx context.Context, userID string) (*Signup, error) {
	var s Signup
	if err := db.ctx(ctx).First(&s, "user_id = ? AND verified_at IS NULL", userID).Error; err != nil {
		return nil, fmt.Errorf("pending sign-up: %w", translate(err))
	}
	return &s, nil
}

// ExtendSignup moves the expiry of a pending sign-up (a new verification
// link was sent).
func (db *UserStore) ExtendSignup(ctx context.Context, userID string, expiresAt time.Time) error {
	return translate(db.ctx(ctx).Model(&Signup{}).Where("user_id = ? AND verified_at IS NULL", userID).
		Update("expires_at", expiresAt).Error)
}

// verifySignupTx marks the pending sign-up of the setup link's user
// verified, and its address verified, when the link was the one sent to
// verify it: the owner proved the address by opening it.
func verifySignupTx(tx *gorm.DB, setupTokenID string, now time.Time) error {
	var st SetupToken
	if err := tx.First(&st, "id = ?", setupTokenID).Error; err != nil {
		return err
	}
	if st.CreatedBy != SetupBySignup {
		return nil
	}
	res := tx.Model(&Signup{}).Where("user_id = ? AND verified_at IS NULL", st.UserID).Update("verified_at", now)
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error
	}
	return tx.Model(&User{}).Where("id = ?", st.UserID).Updates(map[string]any{"email_verified": true, "updated_at": now}).Error
}

// Settings of the sign-up policy the console sets (when serve has no
// --signup): "closed", "invite" or "open", and the domains of "open",
// comma-separated.
const (
	SettingSignupPolicy  = "signup_policy"
	SettingSignupDomains = "signup_domains"
	// EventSignupPolicyChanged is audited when the console changes it.
	EventSignupPolicyChanged = "signup_policy_changed"
)

// SignupSetting returns the stored sign-up policy and domains; "" and
// nil when none was stored.
func (db *DB) SignupSetting(ctx context.Context) (string, []string, error) {
	var rows []Setting
	if err := db.ctx(ctx).Where("name IN ?", []string{SettingSignupPolicy, SettingSignupDomains}).Find(&rows).Error; err != nil {
		return "", nil, fmt.Errorf("sign-up setting: %w", translate(err))
	}
	var policy string
	var domains []string
	for _, r := range rows {
		switch r.Name {
		case SettingSignupPolicy:
			policy = r.Value
		case SettingSignupDomains:
			for _, d := range strings.Split(r.Value, ",") {
				if d = strings.TrimSpace(d); d != "" {
					domains = append(domains, d)
				}
			}
		}
	}
	return policy, domains, nil
}

// SetSignupSetting stores the sign-up policy and domains (checked by the
// caller), audited with the actor, in one transaction.
func (db *DB) SetSignupSetting(ctx context.Context, policy string, domains []string, actor string) error {
	return db.InTx(ctx, func(tx *DB) error {
		now := tx.Now()
		for _, s := range []Setting{{Name: SettingSignupPolicy, Value: policy, UpdatedAt: now},
			{Name: SettingSignupDomains, Value: strings.Join(domains, ","), UpdatedAt: now}} {
			if err := tx.ctx(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}},
				DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"})}).Create(&s).Error; err != nil {
				return fmt.Errorf("store sign-up setting: %w", translate(err))
			}
		}
		return tx.Audit(ctx, &AuditEvent{Type: EventSignupPolicyChanged, Success: true, ActorID: actor,
			Detail: JSONMap{"policy": policy, "domains": strings.Join(domains, ",")}})
	})
}
