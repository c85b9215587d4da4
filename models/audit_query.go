package models

import (
	"context"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Audit event types of admin changes; every one carries ActorID (the
// admin's user ID, or "api:" + API token ID).
const (
	EventAdminSignIn        = "admin_sign_in"
	EventAdminSignInDenied  = "admin_sign_in_denied"
	EventUserUpdated        = "user_updated"
	EventUserDisabled       = "user_disabled"
	EventUserEnabled        = "user_enabled"
	EventUserDeleted        = "user_deleted"
	EventSessionEnded       = "session_ended"
	EventGroupCreated       = "group_created"
	EventGroupUpdated       = "group_updated"
	EventGroupDeleted       = "group_deleted"
	EventClientUpdated      = "client_updated"
	EventClientDeleted      = "client_deleted"
	EventClientSecretRotate = "client_secret_rotated"
	EventAPITokenCreated    = "api_token_created"
	EventAPITokenRevoked    = "api_token_revoked"
	EventSCIMTokenCreated   = "scim_token_created" //nolint:gosec // G101: an audit event name, not a credential
	EventSCIMTokenRevoked   = "scim_token_revoked" //nolint:gosec // G101: an audit event name, not a credential
	EventPasskeyRenamed     = "passkey_renamed"
	EventAppTokensRevoked   = "app_tokens_revoked" //nolint:gosec // G101: an audit event name, not a credential
)

// AuditQuery selects a page of audit events; zero fields match everything.
type AuditQuery struct {
	UserID   string
	Type     string
	Since    time.Time
	Until    time.Time
	BeforeID int64 // keyset pagination: only events with a smaller ID (older)
	AfterID  int64 // or only events with a greater ID (newer); BeforeID wins
	Limit    int   // 1..1000, default 50
}

// QueryAudit lists matching events, newest first. It fetches one more than
// Limit so the caller knows whether another page exists: older than the
// page, or, with AfterID, newer. It pages by key on the ID (each index of
// audit_events holds it), so no page counts or skips rows; the user and
// type filters read their indexes (migration 00011).
func (db *AuditStore) QueryAudit(ctx context.Context, f AuditQuery) (events []AuditEvent, more bool, err error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 50
	}
	newer := f.BeforeID <= 0 && f.AfterID > 0
	q := db.ctx(ctx).Order("id DESC")
	if newer {
		q = db.ctx(ctx).Order("id")
	}
	if f.UserID != "" {
		// As subject or as actor: the union of two walks of their
		// indexes in page order, each cut to the page, so the merge
		// sorts two pages instead of every event of the user.
		dir := "DESC"
		if newer {
			dir = "ASC"
		}
		branch := func(col string) *gorm.DB {
			b := db.ctx(ctx).Model(&AuditEvent{}).Select("id").Where(col+" = ?", f.UserID).Order("id " + dir).Limit(f.Limit + 1)
			switch {
			case f.BeforeID > 0:
				b = b.Where("id < ?", f.BeforeID)
			case newer:
				b = b.Where("id > ?", f.AfterID)
			}
			return b
		}
		q = q.Where("id IN (SELECT id FROM (?) AS s UNION SELECT id FROM (?) AS a)", branch("user_id"), branch("actor_id"))
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		lo, hi, none, err := db.auditIDRange(ctx, f.Since, f.Until)
		if err != nil || none {
			return nil, false, err
		}
		// The time bounds stay exact; hidden from SQLite's planner (+),
		// so it walks the ID range in page order instead of sorting the
		// whole time range for every page.
		created := "created_at"
		if !db.postgres {
			created = "+created_at"
		}
		if lo > 0 {
			q = q.Where("id >= ?", lo)
		}
		if hi > 0 {
			q = q.Where("id < ?", hi)
		}
		if !f.Since.IsZero() {
			q = q.Where(created+" >= ?", f.Since.UTC())
		}
		if !f.Until.IsZero() {
			q = q.Where(created+" < ?", f.Until.UTC())
		}
	}
	switch {
	case f.BeforeID > 0:
		q = q.Where("id < ?", f.BeforeID)
	case newer:
		q = q.Where("id > ?", f.AfterID)
	}
	if err := q.Limit(f.Limit + 1).Find(&events).Error; err != nil {
		return nil, false, translate(err)
	}
	if more = len(events) > f.Limit; more {
		events = events[:f.Limit]
	}
	if newer {
		slices.Reverse(events)
	}
	return events, more, nil
}

// auditClockSkew is how far apart the clocks of instances writing the
// audit log may be: IDs follow the order of inserts, times the writer's
// clock, so a time bound becomes an ID bound this much wider.
const auditClockSkew = time.Minute

// auditIDRange turns a time range into a range of event IDs [lo, hi) that
// holds every event in it (0: unbounded), reading only the events within
// auditClockSkew of each bound on the created_at index; none is true when
// no event can match. IDs follow the order of inserts: an event inserted
// after the window around a bound carries a later time than the bound
// (its writer's clock is at most the skew behind), one inserted before it
// an earlier time.
func (db *AuditStore) auditIDRange(ctx context.Context, since, until time.Time) (lo, hi int64, none bool, err error) {
	// edge returns agg(id) of the events within the skew of t, or, when
	// there are none, the ID of the first event after t (0: none).
	edge := func(agg string, t time.Time) (int64, error) {
		var id *int64
		err := db.ctx(ctx).Model(&AuditEvent{}).Select(agg+"(id)").
			Where("created_at >= ? AND created_at < ?", t.Add(-auditClockSkew).UTC(), t.Add(auditClockSkew).UTC()).Scan(&id).Error
		if err != nil {
			return 0, translate(err)
		}
		if id != nil {
			return *id, nil
		}
		var ids []int64
		err = db.ctx(ctx).Model(&AuditEvent{}).Where("created_at >= ?", t.UTC()).Order("created_at").Limit(1).Pluck("id", &ids).Error
		if err != nil || len(ids) == 0 {
			return 0, translate(err)
		}
		return ids[0], nil
	}
	if !since.IsZero() {
		if lo, err = edge("MIN", since); err != nil || lo == 0 {
			return 0, 0, err == nil, err
		}
	}
	if !until.IsZero() {
		if hi, err = edge("MAX", until); hi > 0 {
			hi++ // the last event of the window is still in range
		}
	}
	return lo, hi, false, err
}

// auditTypesSQL lists the distinct types by leaps on the type index, one
// look-up per type, instead of reading every event's type.
const auditTypesSQL = `WITH RECURSIVE t(type) AS (
  SELECT MIN(type) FROM audit_events
  UNION ALL
  SELECT (SELECT MIN(type) FROM audit_events WHERE type > t.type) FROM t WHERE t.type IS NOT NULL
) SELECT type FROM t WHERE type IS NOT NULL`

// AuditTypes returns the distinct event types present, sorted.
func (db *AuditStore) AuditTypes(ctx context.Context) ([]string, error) {
	ts := []string{}
	err := db.ctx(ctx).Raw(auditTypesSQL).Scan(&ts).Error
	return ts, translate(err)
}

// CountRecentAudit counts the events of one type and outcome since since,
// up to limit (more: there are more). It reads a range of the (type,
// success, created_at) index and stops at limit+1 rows, so an attack's
// million refusals cost no more than a thousand.
func (db *AuditStore) CountRecentAudit(ctx context.Context, typ string, success bool, since time.Time, limit int) (n int, more bool, err error) {
	var c int64
	err = db.ctx(ctx).Raw("SELECT COUNT(*) FROM (SELECT 1 FROM audit_events WHERE type = ? AND success = ? AND created_at >= ? LIMIT ?) AS recent",
		typ, success, since.UTC(), limit+1).Scan(&c).Error
	if err != nil {
		return 0, false, translate(err)
	}
	if c > int64(limit) {
		return limit, true, nil
	}
	return int(c), false, nil
}

// DayCount is a number of events on one UTC day.
type DayCount struct {
	Day   time.Time
	Count int
}

// SignInsPerDay counts successful sign-ins per UTC day over the last days
// days, oldest first, including days without any.
func (db *AuditStore) SignInsPerDay(ctx context.Context, days int) ([]DayCount, error) {
	today := db.Now().Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -(days - 1))
	out := make([]DayCount, days)
	// One count a day, each a range of the (type, success, created_at)
	// index: no event is read into memory, however many there are.
	for i := range out {
		out[i].Day = start.AddDate(0, 0, i)
		var n int64
		err := db.ctx(ctx).Model(&AuditEvent{}).Where("type = ? AND success = ? AND created_at >= ? AND created_at < ?",
			EventSignIn, true, out[i].Day, out[i].Day.AddDate(0, 0, 1)).Count(&n).Error
		if err != nil {
			return nil, translate(err)
		}
		out[i].Count = int(n)
	}
	return out, nil
}
