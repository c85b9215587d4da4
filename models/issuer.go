package models

import (
	"context"
	"fmt"

	"gorm.io/gorm/clause"
)

// SettingIssuer names the setting that holds the issuer `latchkey serve`
// last ran with. Passkeys are bound to the WebAuthn RP ID, which is the
// issuer's host, so the other commands print URLs on it and a start on
// another host is refused unless the operator accepts it (issue 19).
const SettingIssuer = "issuer"

// RecordedIssuer returns the issuer the installation was last served at,
// or "" when it was never served.
func (db *KeyStore) RecordedIssuer(ctx context.Context) (string, error) {
	var s []Setting
	if err := db.ctx(ctx).Where("name = ?", SettingIssuer).Limit(1).Find(&s).Error; err != nil {
		return "", fmt.Errorf("read recorded issuer: %w", translate(err))
	}
	if len(s) == 0 {
		return "", nil
	}
	return s[0].Value, nil
}

// RecordIssuer stores issuer as the installation's issuer. A change from
// a recorded one is audited with both values.
func (db *DB) RecordIssuer(ctx context.Context, issuer, actor string) error {
	return db.InTx(ctx, func(tx *DB) error {
		old, err := tx.RecordedIssuer(ctx)
		if err != nil || old == issuer {
			return err
		}
		s := Setting{Name: SettingIssuer, Value: issuer, UpdatedAt: tx.Now()}
		if err := tx.ctx(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}},
			DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"})}).Create(&s).Error; err != nil {
			return fmt.Errorf("record issuer: %w", translate(err))
		}
		if old == "" {
			return nil
		}
		return tx.Audit(ctx, &AuditEvent{Type: "issuer_changed", Success: true, ActorID: actor,
			Detail: JSONMap{"old_issuer": old, "new_issuer": issuer}})
	})
}
