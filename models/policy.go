package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// Audit event types of the passkey policy (issue 7).
const (
	// EventPasskeyPolicyFlagged: a passkey no longer satisfies its owner's
	// policy; it is refused at sign-in once the grace period has passed.
	EventPasskeyPolicyFlagged = "passkey_policy_flagged"
	// EventPasskeyPolicyCleared: a flagged passkey satisfies the policy again.
	EventPasskeyPolicyCleared = "passkey_policy_cleared"
	// EventPasskeyPolicyRefused: a registration or sign-in was refused by
	// the passkey policy.
	EventPasskeyPolicyRefused = "passkey_policy_refused"
	// EventGroupPolicyChanged: a group's passkey policy was set or removed.
	EventGroupPolicyChanged = "group_policy_changed"
	// EventMetadataImported: a FIDO metadata blob was imported.
	EventMetadataImported = "mds_imported"
)

// GroupPolicy overrides the global passkey policy for the members of a
// group. Level is "any", "device-bound" or "attested" (checked by
// passkeys); empty AAGUID lists restrict nothing.
type GroupPolicy struct {
	GroupID     string `gorm:"primaryKey"`
	Level       string
	AAGUIDAllow StringList `gorm:"column:aaguid_allow"`
	AAGUIDDeny  StringList `gorm:"column:aaguid_deny"`
	UpdatedAt   time.Time
	// GroupName is filled by the queries below; it is not a column.
	GroupName string `gorm:"-"`
}

// MetadataBlob is an imported FIDO MDS3 blob (the raw JWT, whose signature
// chain was verified at import). The highest Serial is the one in use.
type MetadataBlob struct {
	Serial      int64 `gorm:"primaryKey;autoIncrement:false"`
	NextUpdate  time.Time
	ImportedAt  time.Time
	Entries     int64
	LegalHeader string
	Blob        []byte
}

// TableName keeps the table name short and explicit.
func (MetadataBlob) TableName() string { return "mds_blobs" }

// SetGroupPolicy creates or replaces the policy of the named group,
// creating the group if it does not exist.
func (db *PolicyStore) SetGroupPolicy(ctx context.Context, groupName string, p *GroupPolicy) error {
	name := strings.TrimSpace(groupName)
	if name == "" {
		return fmt.Errorf("%w: group name is empty", ErrInvalid)
	}
	created := Group{ID: groupID(name), Name: name, CreatedAt: db.Now()}
	if err := db.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&created).Error; err != nil {
		return translate(err)
	}
	// Into a zero struct: First adds the primary key of a struct that has
	// one, and a group made by CreateGroup has another ID than groupID.
	var g Group
	if err := db.ctx(ctx).First(&g, "name = ?", name).Error; err != nil {
		return translate(err)
	}
	p.GroupID, p.GroupName, p.UpdatedAt = g.ID, g.Name, db.Now()
	if p.AAGUIDAllow == nil {
		p.AAGUIDAllow = StringList{}
	}
	if p.AAGUIDDeny == nil {
		p.AAGUIDDeny = StringList{}
	}
	return translate(db.ctx(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(p).Error)
}

// DeleteGroupPolicy removes the policy of the named group; ErrNotFound if
// it had none.
func (db *PolicyStore) DeleteGroupPolicy(ctx context.Context, groupName string) error {
	res := db.ctx(ctx).Where("group_id = ?", groupID(strings.TrimSpace(groupName))).Delete(&GroupPolicy{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("policy of group %q: %w", groupName, ErrNotFound)
	}
	return nil
}

// GroupPolicies lists every group policy with its group name, by name.
func (db *PolicyStore) GroupPolicies(ctx context.Context) ([]GroupPolicy, error) {
	return db.groupPolicies(ctx, "")
}

// GroupPoliciesForUser lists the policies of the user's groups. Every
// sign-in asks, so the statement is hand-written (raw.go).
func (db *PolicyStore) GroupPoliciesForUser(ctx context.Context, userID string) ([]GroupPolicy, error) {
	return db.groupPolicies(ctx, userID)
}

// groupPolicies lists the policies of userID's groups, or of every group
// for "", by group name.
func (db *PolicyStore) groupPolicies(ctx context.Context, userID string) ([]GroupPolicy, error) {
	q := "SELECT group_policies.group_id, group_policies.level, group_policies.aaguid_allow, group_policies.aaguid_deny," +
		" group_policies.updated_at, groups.name FROM group_policies JOIN groups ON groups.id = group_policies.group_id"
	var args []any
	if userID != "" {
		q += " JOIN user_groups ON user_groups.group_id = group_policies.group_id WHERE user_groups.user_id = ?"
		args = append(args, userID)
	}
	rows, err := db.rawPool(false).QueryContext(ctx, db.rebind(q+" ORDER BY groups.name"), args...)
	if err != nil {
		return nil, db.rawErr(err)
	}
	defer rows.Close()
	out := []GroupPolicy{}
	for rows.Next() {
		var p GroupPolicy
		if err := rows.Scan(&p.GroupID, &p.Level, &p.AAGUIDAllow, &p.AAGUIDDeny, &p.UpdatedAt, &p.GroupName); err != nil {
			return nil, db.rawErr(err)
		}
		out = append(out, p)
	}
	return out, db.rawErr(rows.Err())
}

// CredentialsPage returns up to limit passkeys (1 to MaxListLimit) whose
// ID is greater than afterID ("" for the first page), by ID: re-evaluating
// every passkey against the policy reads them one page at a time on the
// primary key, so its memory does not grow with their number. A page
// shorter than limit is the last. Errors: ErrInvalid for a limit out of
// range.
func (db *PolicyStore) CredentialsPage(ctx context.Context, afterID string, limit int) ([]Credential, error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxListLimit)
	}
	var cs []Credential
	err := db.ctx(ctx).Where("id > ?", afterID).Order("id").Limit(limit).Find(&cs).Error
	return cs, translate(err)
}

// FlagCredential records that the passkey stopped satisfying the policy at
// at. It reports false when the passkey was already flagged (or is gone),
// so concurrent instances audit a flag once.
func (db *PolicyStore) FlagCredential(ctx context.Context, id string, at time.Time) (bool, error) {
	res := db.ctx(ctx).Model(&Credential{}).Where("id = ? AND policy_flagged_at IS NULL", id).
		Update("policy_flagged_at", at.UTC())
	return res.RowsAffected == 1, translate(res.Error)
}

// UnflagCredential clears the policy flag. It reports whether one was set.
func (db *PolicyStore) UnflagCredential(ctx context.Context, id string) (bool, error) {
	res := db.ctx(ctx).Model(&Credential{}).Where("id = ? AND policy_flagged_at IS NOT NULL", id).
		Update("policy_flagged_at", nil)
	return res.RowsAffected == 1, translate(res.Error)
}

// StoreMetadataBlob stores an imported blob. A serial already stored
// returns ErrConflict.
func (db *PolicyStore) StoreMetadataBlob(ctx context.Context, b *MetadataBlob) error {
	if b.ImportedAt.IsZero() {
		b.ImportedAt = db.Now()
	}
	return translate(db.ctx(ctx).Create(b).Error)
}

// LatestMetadataSerial returns the serial of the blob in use, or
// ErrNotFound when none was imported.
func (db *PolicyStore) LatestMetadataSerial(ctx context.Context) (int64, error) {
	var serial int64
	err := db.rawRow(ctx, db.rawPool(false), "SELECT serial FROM mds_blobs ORDER BY serial DESC LIMIT 1").Scan(&serial) // raw.go
	if err := db.rawErr(err); err != nil {
		return 0, fmt.Errorf("metadata blob: %w", err)
	}
	return serial, nil
}

// LatestMetadataBlob returns the blob in use; withBlob false leaves Blob
// empty (for status displays). ErrNotFound when none was imported.
func (db *PolicyStore) LatestMetadataBlob(ctx context.Context, withBlob bool) (*MetadataBlob, error) {
	q := db.ctx(ctx).Order("serial DESC")
	if !withBlob {
		q = q.Omit("blob")
	}
	var b MetadataBlob
	if err := q.First(&b).Error; err != nil {
		return nil, fmt.Errorf("metadata blob: %w", translate(err))
	}
	return &b, nil
}
