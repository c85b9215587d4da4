package models

import (
	"context"
	"fmt"
	"time"
)

// Credential is a passkey. The four authenticator flags are stored as
// booleans because go-webauthn checks BackupEligible consistency on every
// sign-in (WebAuthn L3 §6.1.3).
type Credential struct {
	ID                string `gorm:"primaryKey"`
	UserID            string
	CredentialID      []byte
	PublicKey         []byte
	AttestationType   string
	AttestationFormat string
	AAGUID            []byte `gorm:"column:aaguid"`
	Transports        StringList
	UserPresent       bool
	UserVerified      bool
	BackupEligible    bool
	BackupState       bool
	SignCount         uint32
	CloneWarning      bool
	Name              string
	CreatedAt         time.Time
	LastUsedAt        *time.Time
	// AttestationVerified: the attestation chained to a FIDO metadata trust
	// anchor at registration (policy.go).
	AttestationVerified bool
	// PolicyFlaggedAt is when the passkey was first found not to satisfy
	// its owner's passkey policy; nil while it does (policy.go).
	PolicyFlaggedAt *time.Time
}

// CredentialsByUser returns the user's passkeys, oldest first.
func (db *CredentialStore) CredentialsByUser(ctx context.Context, userID string) ([]Credential, error) {
	rows, err := db.rawPool(false).QueryContext(ctx, db.rebind("SELECT "+credentialColumns+" FROM credentials WHERE user_id = ? ORDER BY created_at, id"), userID) // raw.go
	if err != nil {
		return nil, db.rawErr(err)
	}
	defer rows.Close()
	var cs []Credential
	for rows.Next() {
		var c Credential
		if err := scanCredential(rows, &c); err != nil {
			return nil, db.rawErr(err)
		}
		cs = append(cs, c)
	}
	return cs, db.rawErr(rows.Err())
}

// CredentialByCredentialID loads a passkey by its WebAuthn credential ID.
func (db *CredentialStore) CredentialByCredentialID(ctx context.Context, credID []byte) (*Credential, error) {
	var c Credential
	if err := db.ctx(ctx).First(&c, "credential_id = ?", credID).Error; err != nil {
		return nil, fmt.Errorf("load credential: %w", translate(err))
	}
	return &c, nil
}

// UpdateCredentialAfterLogin writes back what a sign-in assertion reported:
// sign count, clone warning, the UP/UV/BE/BS flags and the last-used time.
func (db *CredentialStore) UpdateCredentialAfterLogin(ctx context.Context, c *Credential) error {
	now := db.Now()
	firstUse := c.LastUsedAt == nil
	c.LastUsedAt = &now
	n, err := db.rawAffected(ctx, db.rawPool(true), "UPDATE credentials SET sign_count = ?, clone_warning = ?, user_present = ?, user_verified = ?,"+
		" backup_eligible = ?, backup_state = ?, last_used_at = ? WHERE id = ?",
		c.SignCount, c.CloneWarning, c.UserPresent, c.UserVerified, c.BackupEligible, c.BackupState, now, c.ID) // raw.go
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("credential %q: %w", c.ID, ErrNotFound)
	}
	if firstUse && db.hasCredentialHook() {
		return db.newProviderSignIn(ctx, c)
	}
	return nil
}

// newProviderSignIn calls the credential hook when c, used for the first
// time, comes from a provider (AAGUID; all zeros counts as one "unknown"
// provider) that no other passkey of its owner has signed in with. It runs
// once per passkey, so the sign-in path pays for it only then.
func (db *CredentialStore) newProviderSignIn(ctx context.Context, c *Credential) error {
	aaguid := c.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	var seen bool
	err := db.rawRow(ctx, db.rawPool(false), "SELECT EXISTS (SELECT 1 FROM credentials WHERE user_id = ? AND id <> ? AND aaguid = ?"+
		" AND last_used_at IS NOT NULL)", c.UserID, c.ID, aaguid).Scan(&seen) // raw.go
	if err != nil {
		return fmt.Errorf("look for the passkey provider: %w", db.rawErr(err))
	}
	if seen {
		return nil
	}
	gtx := db.tx
	if gtx == nil {
		gtx = db.gorm
	}
	return db.credentialChanged(ctx, gtx, CredentialChange{NewProvider: true, Credential: *c})
}

// SetCloneWarning flags a passkey whose sign count went backwards.
func (db *CredentialStore) SetCloneWarning(ctx context.Context, id string) error {
	return translate(db.ctx(ctx).Model(&Credential{}).Where("id = ?", id).Update("clone_warning", true).Error)
}

// RenameCredential sets the user-given name of a passkey owned by userID.
func (db *CredentialStore) RenameCredential(ctx context.Context, userID, id, name string) error {
	res := db.ctx(ctx).Model(&Credential{}).Where("id = ? AND user_id = ?", id, userID).Update("name", name)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("credential %q: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteCredential removes a passkey owned by userID and ends the sessions
// (and their tokens) that were signed in with it.
func (db *CredentialStore) DeleteCredential(ctx context.Context, userID, id string) error {
	tx := db.ctx(ctx).Begin()
	defer tx.Rollback()
	var old Credential
	if err := tx.Where("id = ? AND user_id = ?", id, userID).Limit(1).Find(&old).Error; err != nil {
		return translate(err)
	}
	res := tx.Where("id = ? AND user_id = ?", id, userID).Delete(&Credential{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("credential %q: %w", id, ErrNotFound)
	}
	var sids []string
	if err := tx.Model(&Session{}).Where("credential_id = ? AND ended_at IS NULL", id).Pluck("id", &sids).Error; err != nil {
		return err
	}
	for _, sid := range sids {
		if err := db.endSessionTx(tx, sid); err != nil {
			return err
		}
	}
	if err := db.credentialChanged(ctx, tx, CredentialChange{Credential: old}); err != nil {
		return err
	}
	return tx.Commit().Error
}

// BlockedPasskey is a passkey blocked as a suspected clone, with its
// owner's username.
type BlockedPasskey struct {
	Credential
	Username string
}

// BlockedPasskeys returns up to limit passkeys blocked as suspected
// clones, oldest first, with their owners.
func (db *CredentialStore) BlockedPasskeys(ctx context.Context, limit int) ([]BlockedPasskey, error) {
	var out []BlockedPasskey
	err := db.ctx(ctx).Table("credentials AS c").Select("c.*, u.username").
		Joins("JOIN users u ON u.id = c.user_id").
		Where("c.clone_warning = ?", true).Order("c.created_at, c.id").Limit(limit).Scan(&out).Error
	return out, translate(err)
}

// UnblockCredential clears the clone warning of the user's passkey and
// resets its stored sign count, so that the next sign-in's counter becomes
// the new reference (WebAuthn L3 §6.1.1: a relying party decides what a
// counter that went backwards means; an admin who reviewed it decides
// here). It returns ErrNotFound when the user has no such blocked passkey.
func (db *CredentialStore) UnblockCredential(ctx context.Context, userID, id string) error {
	res := db.ctx(ctx).Model(&Credential{}).Where("id = ? AND user_id = ? AND clone_warning = ?", id, userID, true).
		Updates(map[string]any{"clone_warning": false, "sign_count": 0})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
