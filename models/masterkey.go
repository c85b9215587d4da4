package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// The master key never enters the database; its fingerprint does
// (MasterKeyFingerprint), so that a start with a missing or different key
// is refused with a message naming the key it needs, instead of creating a
// new key that opens nothing (issue 20).

// Setting is a named, non-secret value of the installation.
type Setting struct {
	Name      string `gorm:"primaryKey"`
	Value     string
	UpdatedAt time.Time
}

// SettingMasterKeyFingerprint names the setting that holds the
// fingerprint of the master key.
const SettingMasterKeyFingerprint = "master_key_fingerprint"

// MasterKeyMismatchError reports that the master key offered is not the one that
// sealed the database's signing keys and secrets. Expected is the stored
// fingerprint ("" for a database sealed before fingerprints were stored),
// Got the offered key's.
type MasterKeyMismatchError struct{ Expected, Got string }

func (e *MasterKeyMismatchError) Error() string {
	if e.Expected == "" {
		return fmt.Sprintf("master key %s does not open the sealed values in the database", e.Got)
	}
	return fmt.Sprintf("the database was sealed with master key %s, not %s", e.Expected, e.Got)
}

// StoredMasterKeyFingerprint returns the fingerprint of the master key
// the database is sealed with, or "" when none is stored.
func (db *KeyStore) StoredMasterKeyFingerprint(ctx context.Context) (string, error) {
	var s []Setting
	if err := db.ctx(ctx).Where("name = ?", SettingMasterKeyFingerprint).Limit(1).Find(&s).Error; err != nil {
		return "", fmt.Errorf("read master key fingerprint: %w", translate(err))
	}
	if len(s) == 0 {
		return "", nil
	}
	return s[0].Value, nil
}

// HoldsSealedMaterial reports whether the database depends on a master
// key: it has signing keys or sealed secrets, or names a key by its
// fingerprint. A new master key must never be made for such a database.
func (db *KeyStore) HoldsSealedMaterial(ctx context.Context) (bool, error) {
	var n int64
	err := db.ctx(ctx).Raw(`SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM signing_keys LIMIT 1) k)
 + (SELECT COUNT(*) FROM (SELECT 1 FROM secrets LIMIT 1) s)
 + (SELECT COUNT(*) FROM settings WHERE name = ?)`, SettingMasterKeyFingerprint).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("look for sealed values: %w", translate(err))
	}
	return n > 0, nil
}

// ConfirmMasterKey returns a *MasterKeyMismatchError when the database
// names a master key other than the one of fingerprint fp. A starting
// server calls it after it has marked itself running
// (MarkInstanceRunning), and ResealAll updates the fingerprint before it
// looks for running servers, so a server that starts during a rotation
// either is seen by it (which then refuses) or sees the new fingerprint
// here (and refuses to start): never both miss each other. On Postgres the
// read waits (FOR SHARE) for a rotation that has updated the row but not
// yet committed; on SQLite the rotation holds the only write lock, so the
// caller's mark waited for it already.
func (db *KeyStore) ConfirmMasterKey(ctx context.Context, fp string) error {
	var s []Setting
	q := db.ctx(ctx).Where("name = ?", SettingMasterKeyFingerprint).Limit(1)
	if db.postgres {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthShare})
	}
	if err := q.Find(&s).Error; err != nil {
		return fmt.Errorf("read master key fingerprint: %w", translate(err))
	}
	if len(s) > 0 && s[0].Value != fp {
		return &MasterKeyMismatchError{Expected: s[0].Value, Got: fp}
	}
	return nil
}

// CheckMasterKey returns a *MasterKeyMismatchError unless key is the key
// the database is sealed with. A database that names no key yet gets
// key's fingerprint, after key has opened one sealed value if there is
// any (an installation from before fingerprints); of several first
// starts with different keys, the first to store its fingerprint wins.
func (db *KeyStore) CheckMasterKey(ctx context.Context, key []byte) error {
	got := MasterKeyFingerprint(key)
	stored, err := db.StoredMasterKeyFingerprint(ctx)
	if err != nil {
		return err
	}
	if stored == "" {
		sealer, err := NewSealer(key)
		if err != nil {
			return err
		}
		if ok, err := db.opensASealedValue(ctx, sealer); err != nil {
			return err
		} else if !ok {
			return &MasterKeyMismatchError{Got: got}
		}
		s := Setting{Name: SettingMasterKeyFingerprint, Value: got, UpdatedAt: db.Now()}
		if err := db.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&s).Error; err != nil {
			return fmt.Errorf("store master key fingerprint: %w", translate(err))
		}
		if stored, err = db.StoredMasterKeyFingerprint(ctx); err != nil {
			return err
		}
	}
	if stored != got {
		return &MasterKeyMismatchError{Expected: stored, Got: got}
	}
	return nil
}

// opensASealedValue reports whether sealer opens one sealed secret and
// one signing key of the database (true when there is none). Secrets
// are sealed with their name as associated data, signing keys with their
// kid (oidc/keys.go).
func (db *KeyStore) opensASealedValue(ctx context.Context, sealer *Sealer) (bool, error) {
	var secrets []Secret
	if err := db.ctx(ctx).Limit(1).Find(&secrets).Error; err != nil {
		return false, translate(err)
	}
	for _, s := range secrets {
		if _, err := sealer.Open(s.ValueEnc, []byte(s.Name)); err != nil {
			return false, nil //nolint:nilerr // not opening is the answer, not a failure
		}
	}
	var keys []SigningKey
	if err := db.ctx(ctx).Limit(1).Find(&keys).Error; err != nil {
		return false, translate(err)
	}
	for _, k := range keys {
		if _, err := sealer.Open(k.PrivateKeyEnc, []byte(k.ID)); err != nil {
			return false, nil //nolint:nilerr // not opening is the answer, not a failure
		}
	}
	return true, nil
}

// ResealResult counts what ResealAll re-sealed.
type ResealResult struct {
	SigningKeys, Secrets int
	Mail                 int    // unsent messages (outbox.go)
	Old, New             string // fingerprints
}

// ResealAll re-seals every sealed value (signing keys, secrets) that
// oldKey opens under newKey, stores newKey's fingerprint and audits it,
// all in one transaction: either everything is sealed with the new key
// or nothing changed. It fails, changing nothing, when oldKey is not the
// database's key or any value does not open with it.
func (db *DB) ResealAll(ctx context.Context, oldKey, newKey []byte, actor string) (ResealResult, error) {
	res := ResealResult{Old: MasterKeyFingerprint(oldKey), New: MasterKeyFingerprint(newKey)}
	if res.Old == res.New {
		return res, errors.New("the new master key is the old one")
	}
	oldS, err := NewSealer(oldKey)
	if err != nil {
		return res, err
	}
	newS, err := NewSealer(newKey)
	if err != nil {
		return res, err
	}
	err = db.InTx(ctx, func(tx *DB) error {
		if err := tx.CheckMasterKey(ctx, oldKey); err != nil {
			return err
		}
		// The new fingerprint first (the write lock on SQLite, the row's
		// lock on Postgres), then the running servers: see ConfirmMasterKey.
		if err := tx.ctx(ctx).Model(&Setting{}).Where("name = ?", SettingMasterKeyFingerprint).
			Updates(map[string]any{"value": res.New, "updated_at": tx.Now()}).Error; err != nil {
			return fmt.Errorf("store master key fingerprint: %w", translate(err))
		}
		if running, err := tx.RunningInstances(ctx); err != nil {
			return err
		} else if len(running) > 0 {
			return &ServersRunningError{Running: running}
		}
		if res.SigningKeys, err = tx.resealSigningKeys(ctx, oldS, newS); err != nil {
			return err
		}
		if res.Secrets, err = tx.resealSecrets(ctx, oldS, newS); err != nil {
			return err
		}
		if res.Mail, err = tx.resealOutbox(ctx, oldS, newS); err != nil {
			return err
		}
		return tx.Audit(ctx, &AuditEvent{Type: "master_key_rotated", Success: true, ActorID: actor,
			Detail: JSONMap{"old_fingerprint": res.Old, "new_fingerprint": res.New,
				"signing_keys": res.SigningKeys, "secrets": res.Secrets}})
	})
	return res, err
}

func (db *DB) resealSigningKeys(ctx context.Context, oldS, newS *Sealer) (int, error) {
	var rows []SigningKey
	if err := db.ctx(ctx).Find(&rows).Error; err != nil {
		return 0, translate(err)
	}
	for _, r := range rows {
		pt, err := oldS.Open(r.PrivateKeyEnc, []byte(r.ID))
		if err != nil {
			return 0, fmt.Errorf("signing key %s: %w", r.ID, err)
		}
		if err := db.ctx(ctx).Model(&SigningKey{}).Where("id = ?", r.ID).
			Update("private_key_enc", newS.Seal(pt, []byte(r.ID))).Error; err != nil {
			return 0, fmt.Errorf("reseal signing key %s: %w", r.ID, translate(err))
		}
	}
	return len(rows), nil
}

func (db *DB) resealSecrets(ctx context.Context, oldS, newS *Sealer) (int, error) {
	var rows []Secret
	if err := db.ctx(ctx).Find(&rows).Error; err != nil {
		return 0, translate(err)
	}
	for _, r := range rows {
		pt, err := oldS.Open(r.ValueEnc, []byte(r.Name))
		if err != nil {
			return 0, fmt.Errorf("secret %s: %w", r.Name, err)
		}
		if err := db.ctx(ctx).Model(&Secret{}).Where("name = ?", r.Name).
			Update("value_enc", newS.Seal(pt, []byte(r.Name))).Error; err != nil {
			return 0, fmt.Errorf("reseal secret %s: %w", r.Name, translate(err))
		}
	}
	return len(rows), nil
}

// ServersRunningError says that servers that marked themselves running
// (MarkInstanceRunning) use the database, so its master key cannot be
// rotated under them.
type ServersRunningError struct{ Running []Lease }

func (e *ServersRunningError) Error() string {
	names := make([]string, len(e.Running))
	for i, l := range e.Running {
		names[i] = fmt.Sprintf("%s (mark expires %s)", l.Holder, l.ExpiresAt.UTC().Format("15:04:05Z"))
	}
	return "servers are running on this database: " + strings.Join(names, ", ") +
		"; stop every instance first (a killed server's mark expires within a minute)"
}
