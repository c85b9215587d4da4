package models

import (
	"context"
	"time"
)

// Audit event types.
const (
	EventSignIn           = "sign_in"
	EventSignInFailed     = "sign_in_failed"
	EventPasskeyAdded     = "passkey_added"
	EventPasskeyRemoved   = "passkey_removed"
	EventCloneWarning     = "clone_warning"
	EventBrandingUpdated  = "branding_updated"
	EventPasskeyUnblocked = "passkey_unblocked" //nolint:gosec // G101: an audit event name, not a credential
	EventRefreshReuse     = "refresh_token_reuse"
	EventRefreshRetry     = "refresh_token_retry" // a reuse within the grace (oidc RefreshReuseGrace)
	EventCodeReuse        = "code_reuse"
	EventSetupLinkIssued  = "setup_link_issued"
	EventSetupLinkUsed    = "setup_link_used"
	EventUserCreated      = "user_created"
	EventUsersImported    = "users_imported"
	EventClientCreated    = "client_created"
	EventSignOut          = "sign_out"
	EventKeyRotated       = "key_rotated"
)

// AuditEvent is one security-relevant event. Detail never holds a secret.
type AuditEvent struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	CreatedAt time.Time
	Type      string
	Success   bool
	UserID    string
	ActorID   string
	ClientID  string
	IP        string `gorm:"column:ip"`
	Detail    JSONMap
}

// Audit appends an event.
func (db *AuditStore) Audit(ctx context.Context, ev *AuditEvent) error {
	if ev.Detail == nil {
		ev.Detail = JSONMap{}
	}
	db.notifyAudit(ev) // observe.go: metrics count events even if the insert fails
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = db.gorm.NowFunc()
	}
	// Hand-written (raw.go): every sign-in writes one.
	row := db.rawRow(ctx, db.rawPool(true), "INSERT INTO audit_events (created_at, type, success, user_id, actor_id, client_id, ip, detail)"+
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id", ev.CreatedAt, ev.Type, ev.Success, ev.UserID, ev.ActorID, ev.ClientID, ev.IP, ev.Detail)
	err := db.rawErr(row.Scan(&ev.ID))
	db.yieldIfWriter()
	return err
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	UserID string
	Type   string
	Since  time.Time
	Limit  int
}

// AuditEvents lists events, newest first.
func (db *AuditStore) AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := db.ctx(ctx).Order("id DESC")
	if f.UserID != "" {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	var evs []AuditEvent
	return evs, translate(q.Limit(f.Limit).Find(&evs).Error)
}

// RecentSignIns returns the user's newest successful sign-ins, at most
// limit (1 to 100), newest first: a walk of the audit_events_user_type
// index (user_id, type, id) that stops at the limit.
func (db *AuditStore) RecentSignIns(ctx context.Context, userID string, limit int) ([]AuditEvent, error) {
	if limit < 1 || limit > 100 {
		limit = 10
	}
	var evs []AuditEvent
	err := db.ctx(ctx).Where("user_id = ? AND type = ?", userID, EventSignIn).Order("id DESC").Limit(limit).Find(&evs).Error
	if err != nil {
		return nil, translate(err)
	}
	return evs, nil
}
