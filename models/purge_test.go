package models

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPurge: one dead and one live row of every kind; a purge in batches
// of two deletes every dead row (none left that its condition matches)
// and no live one, and counts what it deleted.
func TestPurge(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	now := clock.Now()
	u, cl := patAndApp(t, db)
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	ended := past
	sid := func(s string) *string { return &s }
	create := func(rows ...any) {
		t.Helper()
		for _, r := range rows {
			if err := db.gorm.Create(r).Error; err != nil {
				t.Fatalf("create %T: %v", r, err)
			}
		}
	}
	// Three of each dead kind, so that batches of two need two rounds.
	for i := range 3 {
		n := fmt.Sprint(i)
		create(
			&Ceremony{ID: "c-dead" + n, Kind: "login", SessionData: []byte("{}"), CreatedAt: past, ExpiresAt: past},
			&AuthRequest{ID: "ar-dead" + n, ClientID: cl.ID, CreatedAt: past, ExpiresAt: past},
			&DeviceAuthorization{ID: "d-dead" + n, DeviceCodeHash: HashToken("d-dead" + n), UserCode: "DEAD-000" + n, ClientID: cl.ID,
				State: DeviceStatePending, CreatedAt: past, ExpiresAt: now.Add(-2 * time.Hour)},
			&ClientAssertion{ClientID: cl.ID, JTI: "j-dead" + n, ExpiresAt: past},
			&SetupToken{ID: "st-dead" + n, UserID: u.ID, TokenHash: HashToken("st-dead" + n), CreatedAt: past, ExpiresAt: past},
			&Grant{ID: "g-dead" + n, ClientID: cl.ID, UserID: u.ID, SessionID: sid("s-expired"), AuthTime: past, CreatedAt: past, UpdatedAt: past, ExpiresAt: past},
			&RateLimitBucket{Bucket: "b-dead" + n, WindowEnd: past.Unix(), Count: 1},
			&BackchannelLogout{ID: "bc-dead" + n, SessionID: "s", Subject: u.ID, ClientID: cl.ID, CreatedAt: now.Add(-2 * time.Hour),
				NextAttemptAt: past, DeliveredAt: &past},
			&AuditEvent{Type: EventSignIn, CreatedAt: now.Add(-48 * time.Hour)},
			&AdminSession{ID: "as-dead" + n, TokenHash: HashToken("as-dead" + n), UserID: u.ID, CreatedAt: past, ExpiresAt: past},
		)
		if err := db.RevokeAccessToken(ctx, HashToken("at-dead"+n), past); err != nil {
			t.Fatal(err)
		}
	}
	create(
		// Sessions: ended; expired with no grant left (its grant is dead);
		// expired but named by a live grant (kept: a grant outlives its
		// browser session); live.
		&Session{ID: "s-ended", TokenHash: HashToken("s-ended"), UserID: u.ID, AuthTime: past, CreatedAt: past, LastSeenAt: past, ExpiresAt: future, EndedAt: &ended},
		&Session{ID: "s-expired", TokenHash: HashToken("s-expired"), UserID: u.ID, AuthTime: past, CreatedAt: past, LastSeenAt: past, ExpiresAt: past},
		&Session{ID: "s-held", TokenHash: HashToken("s-held"), UserID: u.ID, AuthTime: past, CreatedAt: past, LastSeenAt: past, ExpiresAt: past},
		&Session{ID: "s-live", TokenHash: HashToken("s-live"), UserID: u.ID, AuthTime: past, CreatedAt: past, LastSeenAt: past, ExpiresAt: future},
		&SessionClient{SessionID: "s-ended", ClientID: cl.ID, CreatedAt: past},
		&SessionClient{SessionID: "s-live", ClientID: cl.ID, CreatedAt: past},
		// Live rows of every kind.
		&Ceremony{ID: "c-live", Kind: "login", SessionData: []byte("{}"), CreatedAt: now, ExpiresAt: future},
		&AuthRequest{ID: "ar-live", ClientID: cl.ID, CreatedAt: now, ExpiresAt: future},
		&DeviceAuthorization{ID: "d-late", DeviceCodeHash: HashToken("d-late"), UserCode: "LATE-0000", ClientID: cl.ID,
			State: DeviceStatePending, CreatedAt: past, ExpiresAt: past}, // expired, but a late poll still gets expired_token
		&ClientAssertion{ClientID: cl.ID, JTI: "j-live", ExpiresAt: future},
		&SetupToken{ID: "st-live", UserID: u.ID, TokenHash: HashToken("st-live"), CreatedAt: now, ExpiresAt: future},
		&Grant{ID: "g-live", ClientID: cl.ID, UserID: u.ID, SessionID: sid("s-held"), AuthTime: past, CreatedAt: past, UpdatedAt: past, ExpiresAt: future},
		&RateLimitBucket{Bucket: "b-live", WindowEnd: future.Unix(), Count: 1},
		&BackchannelLogout{ID: "bc-pending", SessionID: "s", Subject: u.ID, ClientID: cl.ID, CreatedAt: now.Add(-2 * time.Hour), NextAttemptAt: future},
		&BackchannelLogout{ID: "bc-recent", SessionID: "s", Subject: u.ID, ClientID: cl.ID, CreatedAt: past, NextAttemptAt: past, DeliveredAt: &past},
		&AuditEvent{Type: EventSignIn, CreatedAt: now},
		&AdminSession{ID: "as-live", TokenHash: HashToken("as-live"), UserID: u.ID, CreatedAt: now, ExpiresAt: future},
	)
	if err := db.RevokeAccessToken(ctx, HashToken("at-live"), future); err != nil {
		t.Fatal(err)
	}

	o := PurgeOptions{AuditBefore: now.Add(-24 * time.Hour), Batch: 2, Pause: time.Millisecond}
	counts, err := db.Purge(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"ceremonies": 3, "auth_requests": 3, "device_authorizations": 3, "client_assertions": 3, "setup_tokens": 3,
		"grants": 3, "revoked_access_tokens": 3, "sessions": 2, "admin_sessions": 3, "rate_limit_buckets": 3, "backchannel_logouts": 3,
		"audit_events": 3}
	for table, n := range want {
		if counts[table] != n {
			t.Errorf("%s: purged %d, want %d", table, counts[table], n)
		}
	}
	// Nothing that a purge condition matches is left.
	for _, pt := range purgeTargets {
		var left int64
		if err := db.gorm.Table(pt.table).Where(pt.where, pt.args(db.Now(), o)...).Count(&left).Error; err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Errorf("%s: %d rows left that the purge should have deleted", pt.table, left)
		}
	}
	// Every live row is.
	for table, n := range map[string]int64{"ceremonies": 1, "auth_requests": 1, "device_authorizations": 1, "client_assertions": 1,
		"setup_tokens": 1, "grants": 1, "revoked_access_tokens": 1, "sessions": 2, "session_clients": 1, "admin_sessions": 1,
		"rate_limit_buckets": 1, "backchannel_logouts": 2, "audit_events": 1} {
		var got int64
		if err := db.gorm.Table(table).Count(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("%s: %d rows left, want %d", table, got, n)
		}
	}
	var kept []string
	db.gorm.Table("sessions").Order("id").Pluck("id", &kept)
	if fmt.Sprint(kept) != "[s-held s-live]" {
		t.Errorf("sessions kept %v, want [s-held s-live]", kept)
	}
	// A second purge finds nothing.
	again, err := db.Purge(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range again {
		if n != 0 {
			t.Errorf("second purge deleted %d from %s", n, table)
		}
	}
}

// TestPurgeStopsWithContext: a cancelled purge returns what it did so far
// and the context's error.
func TestPurgeStopsWithContext(t *testing.T) {
	db, clock := newTestDB(t)
	past := clock.Now().Add(-time.Minute)
	for i := range 5 {
		if err := db.gorm.Create(&Ceremony{ID: fmt.Sprint("c", i), Kind: "login", SessionData: []byte("{}"), CreatedAt: past, ExpiresAt: past}).Error; err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	counts, err := db.Purge(ctx, PurgeOptions{Batch: 2})
	if err == nil || counts["ceremonies"] > 2 {
		t.Fatalf("cancelled purge: %v, %v", counts, err)
	}
}

// TestEveryTableHasAPurgeRule: a table is either purged (purgeTargets, or
// deleted with the rows it depends on) or bounded by something other than
// traffic, named here with the reason. A new table fails this test until
// it is one or the other.
func TestEveryTableHasAPurgeRule(t *testing.T) {
	db, _ := newTestDB(t)
	bounded := map[string]string{ //nolint:gosec // G101: table names and reasons, not credentials
		"users": "accounts", "groups": "admin-made", "user_groups": "memberships of accounts",
		"credentials": "passkeys of accounts", "clients": "registered applications", "consents": "one per user and application",
		"signing_keys": "rotation deletes expired keys (DeleteExpiredSigningKeys)", "secrets": "a few keys",
		"api_tokens": "admin-made (API and SCIM tokens)", "group_policies": "one per group", "mds_blobs": "imported by admins",
		"leases": "one per job and one per running server (MarkInstanceRunning deletes those of servers gone an hour)", "settings": "a few named values", "branding": "one row", "goose_db_version": "one per migration",
	}
	purged := map[string]bool{}
	for _, pt := range purgeTargets {
		purged[pt.table] = true
		for _, d := range pt.dependents {
			purged[d[0]] = true
		}
	}
	tables, err := db.gorm.Migrator().GetTables()
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 20 {
		t.Fatalf("only %d tables listed: %v", len(tables), tables)
	}
	for _, table := range tables {
		if !purged[table] && bounded[table] == "" && !strings.HasPrefix(table, "sqlite_") {
			t.Errorf("table %s has no purge rule (models/purge.go) and no reason to need none", table)
		}
	}
}

// TestPurgeFindsGrantsAheadOfTheirPurgeMark: a rotation moves a grant's
// purge_after (the purge's index, migration 00031) only when the new
// expiry passes it, so purge_after runs up to GrantPurgeSlack ahead of the
// expiry; the purge still deletes the grant as soon as it has expired,
// keeps a live one whose mark is near, and a rotation past the mark moves
// it to the new expiry plus the slack.
func TestPurgeFindsGrantsAheadOfTheirPurgeMark(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	u, cl := patAndApp(t, db)
	now := clock.Now()
	mark := func(id string) (expires, purgeAfter time.Time) {
		t.Helper()
		if err := db.rawRow(ctx, db.rawPool(false), "SELECT expires_at, purge_after FROM grants WHERE id = ?", id).Scan(&expires, &purgeAfter); err != nil {
			t.Fatal(err)
		}
		return expires.UTC(), purgeAfter.UTC()
	}
	for _, id := range []string{"rotated", "live"} {
		if err := db.CreateGrant(ctx, &Grant{ID: id, ClientID: cl.ID, UserID: u.ID, AuthTime: now, Generation: 1, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, p := mark("rotated"); !p.Equal(now.Add(10*time.Minute + GrantPurgeSlack)) {
		t.Fatalf("a new grant's purge_after = %v, want its expiry plus %v", p, GrantPurgeSlack)
	}
	// Rotations within the mark leave it where it is.
	if err := db.RotateGrant(ctx, "rotated", 1, now.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if e, p := mark("rotated"); !e.Equal(now.Add(20*time.Minute)) || !p.Equal(now.Add(10*time.Minute+GrantPurgeSlack)) {
		t.Fatalf("after a rotation within the mark: expires %v, purge_after %v", e, p)
	}
	// The live grant is extended to just before the rotated one's mark.
	if err := db.RotateGrant(ctx, "live", 1, now.Add(60*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Half an hour on, "rotated" has expired, its mark 40 minutes ahead.
	clock.Advance(30 * time.Minute)
	counts, err := db.Purge(ctx, PurgeOptions{Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if counts["grants"] != 1 {
		t.Fatalf("purged %d grants, want the expired one", counts["grants"])
	}
	if _, err := db.GrantByID(ctx, "rotated"); err == nil {
		t.Fatal("the expired grant is still there")
	}
	if _, err := db.GrantByID(ctx, "live"); err != nil {
		t.Fatalf("the live grant was purged: %v", err)
	}
	// A rotation past the mark moves it to the new expiry plus the slack.
	later := clock.Now().Add(2 * time.Hour)
	if err := db.RotateGrant(ctx, "live", 2, later); err != nil {
		t.Fatal(err)
	}
	if e, p := mark("live"); !e.Equal(later) || !p.Equal(later.Add(GrantPurgeSlack)) {
		t.Fatalf("after a rotation past the mark: expires %v, purge_after %v, want %v and %v", e, p, later, later.Add(GrantPurgeSlack))
	}
	if err := db.ExtendGrant(ctx, "live", 3, later.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e, p := mark("live"); !p.Equal(e.Add(GrantPurgeSlack)) {
		t.Fatalf("after an extension past the mark: expires %v, purge_after %v", e, p)
	}
}

// patAndApp creates a user and a client for grants to name.
func patAndApp(t *testing.T, db *DB) (*User, *Client) {
	t.Helper()
	ctx := context.Background()
	u := &User{Username: "pat"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	cl := &Client{Name: "app", RedirectURIs: StringList{"https://app/cb"}}
	if _, err := db.CreateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	return u, cl
}
