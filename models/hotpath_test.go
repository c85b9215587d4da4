package models

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// anyScan matches a step of a query plan that reads a whole table (or a
// whole index of it): SQLite prints "SCAN t" or "SCAN t USING … INDEX i".
var anyScan = regexp.MustCompile(`\bSCAN (\w+)`)

// TestHotQueriesUseIndexes runs what a sign-in, a token request, userinfo,
// a refresh, a revocation, a logout and the background jobs run, records
// every statement (hand-written ones through conn.trace, GORM's through
// the logger), and asks SQLite for each one's plan: no step may scan a
// table. A million users, grants or audit events must cost the same
// per request as ten.
func TestHotQueriesUseIndexes(t *testing.T) {
	db, clock := newTestDB(t)
	if db.IsPostgres() {
		t.Skip("EXPLAIN QUERY PLAN is SQLite's; Postgres plans by its statistics")
	}
	ctx := context.Background()
	rec := &sqlRecorder{}
	d := recording(db, rec)
	d.trace = func(q string) { rec.stmts = append(rec.stmts, q) }
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	now := clock.Now()

	// Set-up, then the hot paths in the order a sign-in meets them.
	u := &User{Username: "hot", Email: "hot@example.com"}
	must("user", d.CreateUser(ctx, u))
	must("groups", d.SetUserGroups(ctx, u.ID, []string{"staff"}))
	cl := &Client{Name: "app", RedirectURIs: StringList{"https://app/cb"}}
	_, err := d.CreateClient(ctx, cl)
	must("client", err)
	_, _, err = d.HitRateLimit(ctx, "login|192.0.2.1", time.Minute)
	must("rate limit", err)
	_, err = d.ClientByID(ctx, cl.ID)
	must("client by id", err)
	ar := &AuthRequest{ClientID: cl.ID, RedirectURI: "https://app/cb", ResponseType: "code", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must("auth request", d.CreateAuthRequest(ctx, ar))
	_, err = d.AuthRequestByID(ctx, ar.ID)
	must("auth request by id", err)
	must("login challenge", d.SetLoginChallenge(ctx, ar.ID, []byte("challenge"), now.Add(time.Minute)))
	must("ceremony", d.CreateCeremony(ctx, &Ceremony{ID: "cer", Kind: "login", SessionData: []byte("{}"), ExpiresAt: now.Add(time.Minute)}))
	_, err = d.ConsumeCeremony(ctx, "cer", "login")
	must("consume ceremony", err)
	_, err = d.UserByWebAuthnID(ctx, u.WebAuthnID)
	must("user by handle", err)
	_, err = d.CredentialByCredentialID(ctx, []byte("cred"))
	if !isNotFound(err) {
		t.Fatalf("credential: %v", err)
	}
	_, err = d.CredentialsByUser(ctx, u.ID)
	must("credentials", err)
	// A passkey's first sign-in looks for its provider among the owner's
	// passkeys (the new-provider notice).
	d.OnCredentialChange(func(context.Context, *DB, CredentialChange) error { return nil })
	cred := &Credential{ID: NewUUID(), UserID: u.ID, CredentialID: []byte("hot-cred"), PublicKey: []byte("pk"), AAGUID: make([]byte, 16), CreatedAt: now}
	must("add credential", db.Gorm().Create(cred).Error)
	must("first sign-in", d.UpdateCredentialAfterLogin(ctx, cred))
	s := &Session{UserID: u.ID, AuthTime: now}
	raw, err := d.CreateSession(ctx, s, time.Hour)
	must("session", err)
	_, err = d.ActiveSession(ctx, raw)
	must("active session", err)
	must("touch session", d.TouchSession(ctx, s.ID))
	must("complete", d.CompleteAuthRequest(ctx, ar.ID, Completion{UserID: u.ID, SessionID: s.ID, AuthTime: now}))
	_, err = d.ConsentCovers(ctx, u.ID, cl.ID, []string{"openid"})
	must("consent", err)
	code := HashToken("code")
	must("save code", d.SaveAuthCode(ctx, ar.ID, code, time.Minute))
	must("session client", d.RecordSessionClient(ctx, s.ID, cl.ID))
	_, err = d.RedeemAuthCode(ctx, code)
	must("redeem", err)
	must("client assertion", d.UseClientAssertion(ctx, cl.ID, "jti", now.Add(time.Minute)))
	_, err = d.LiveUser(ctx, u.ID, s.ID, false)
	must("live user", err)
	_, err = d.LiveUser(ctx, u.ID, s.ID, true)
	must("live user with groups", err)
	g := &Grant{ID: "g", ClientID: cl.ID, UserID: u.ID, SessionID: &s.ID, AuthRequestID: &ar.ID, AuthTime: now, Generation: 1, ExpiresAt: now.Add(time.Hour)}
	must("grant", d.CreateGrant(ctx, g))
	_, _, err = d.LiveGrant(ctx, "g", HashToken("at"), func(*Grant) bool { return true })
	must("live grant", err)
	_, _, err = d.LiveLegacyGrant(ctx, HashToken("legacy"), nil)
	if !isNotFound(err) {
		t.Fatalf("legacy grant: %v", err)
	}
	must("rotate", d.RotateGrant(ctx, "g", 1, now.Add(time.Hour)))
	_, err = d.GrantByID(ctx, "g")
	must("grant by id", err)
	must("revoke access token", d.RevokeAccessToken(ctx, HashToken("at"), now.Add(time.Hour)))
	_, err = d.AccessTokenRevoked(ctx, HashToken("at"))
	must("access token revoked", err)
	must("audit", d.Audit(ctx, &AuditEvent{Type: EventSignIn, UserID: u.ID}))
	_, err = d.ConnectedApps(ctx, u.ID)
	must("connected apps", err)
	must("revoke client tokens", d.RevokeClientTokensForUser(ctx, u.ID, cl.ID))
	must("revoke by code", d.RevokeByAuthRequest(ctx, ar.ID))
	must("revoke grant", d.RevokeGrant(ctx, "g"))
	must("end session", d.EndSession(ctx, s.ID))
	_, err = d.ClaimBackchannelLogouts(ctx, 10, time.Minute)
	must("claim back-channel logouts", err)
	must("disable", d.SetUserDisabled(ctx, u.ID, true))
	_, err = d.AcquireLease(ctx, PurgeLease, "me", time.Minute)
	must("lease", err)
	_, err = d.Purge(ctx, PurgeOptions{AuditBefore: now.Add(-time.Hour)})
	must("purge", err)

	seen := map[string]bool{}
	checked := 0
	for _, q := range rec.stmts {
		q = strings.TrimSpace(q)
		up := strings.ToUpper(q)
		if seen[q] || strings.HasPrefix(up, "SAVEPOINT") || strings.HasPrefix(up, "RELEASE") || strings.HasPrefix(up, "BEGIN") ||
			strings.HasPrefix(up, "COMMIT") || strings.HasPrefix(up, "PRAGMA") {
			continue
		}
		seen[q] = true
		checked++
		plan := queryPlan(t, db, q, make([]any, strings.Count(q, "?"))...) // hand-written statements keep their placeholders
		for _, m := range anyScan.FindAllStringSubmatch(plan, -1) {
			if !slices.Contains([]string{"CONSTANT"}, m[1]) {
				t.Errorf("full scan of %s in\n  %s\nplan: %s", m[1], q, plan)
			}
		}
	}
	if checked < 40 {
		t.Fatalf("only %d statements recorded: %q", checked, rec.stmts)
	}
	t.Logf("%d distinct statements, none scans a table", checked)
}

// TestSignInsPerDay counts successful sign-ins per UTC day from the
// (type, success, created_at) index, and the console's overview totals
// read no whole table except the plain totals.
func TestSignInsPerDay(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	day := clock.Now().Truncate(24 * time.Hour)
	for _, ev := range []AuditEvent{
		{Type: EventSignIn, Success: true, CreatedAt: day.Add(time.Hour)},
		{Type: EventSignIn, Success: true, CreatedAt: day.Add(2 * time.Hour)},
		{Type: EventSignIn, Success: false, CreatedAt: day.Add(time.Hour)},
		{Type: EventSignInFailed, Success: false, CreatedAt: day.Add(time.Hour)},
		{Type: EventSignIn, Success: true, CreatedAt: day.Add(-time.Minute)},         // yesterday
		{Type: EventSignIn, Success: true, CreatedAt: day.AddDate(0, 0, -3)},         // the first day shown
		{Type: EventSignIn, Success: true, CreatedAt: day.AddDate(0, 0, -3).Add(-1)}, // before it
	} {
		if err := db.Audit(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	days, err := db.SignInsPerDay(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	// The overview's counts of failures: one type and outcome since a
	// time, capped.
	for _, tc := range []struct {
		typ     string
		success bool
		since   time.Time
		limit   int
		n       int
		more    bool
	}{
		{EventSignIn, true, day, 10, 2, false},
		{EventSignIn, false, day, 10, 1, false},
		{EventSignIn, true, day.AddDate(0, 0, -3).Add(-1), 10, 5, false},
		{EventSignIn, true, day.AddDate(0, 0, -3).Add(-1), 4, 4, true},
		{EventSignIn, true, day.AddDate(0, 0, -3).Add(-1), 5, 5, false},
		{EventSignInFailed, false, day, 10, 1, false},
		{EventSignInFailed, true, day, 10, 0, false},
		{EventCloneWarning, false, day, 10, 0, false},
	} {
		if n, more, err := db.CountRecentAudit(ctx, tc.typ, tc.success, tc.since, tc.limit); err != nil || n != tc.n || more != tc.more {
			t.Errorf("CountRecentAudit(%s, %v, %v, %d) = %d, %v, %v; want %d, %v", tc.typ, tc.success, tc.since, tc.limit, n, more, err, tc.n, tc.more)
		}
	}
	var got []int
	for _, d := range days {
		got = append(got, d.Count)
	}
	if len(days) != 4 || !days[3].Day.Equal(day) || fmt.Sprint(got) != "[1 0 1 2]" {
		t.Fatalf("sign-ins per day %v (%+v)", got, days)
	}
	if db.IsPostgres() {
		return
	}
	plan := queryPlan(t, db, "SELECT count(*) FROM audit_events WHERE type = ? AND success = ? AND created_at >= ? AND created_at < ?", "a", true, day, day)
	if !strings.Contains(plan, "COVERING INDEX audit_events_type_day") {
		t.Errorf("sign-ins of a day: %s", plan)
	}
	for q, index := range map[string]string{"disabled": "users_disabled", "is_admin AND NOT disabled": "idx_users_admins"} {
		if plan := queryPlan(t, db, "SELECT count(*) FROM users WHERE "+q); !strings.Contains(plan, index) {
			t.Errorf("users where %s: %s", q, plan)
		}
	}
}

func TestCountAll(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	for _, u := range []*User{{Username: "a", IsAdmin: true}, {Username: "b", IsAdmin: true}, {Username: "c"}} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := db.UserByUsername(ctx, "b")
	if err := db.SetUserDisabled(ctx, b.ID, true); err != nil {
		t.Fatal(err)
	}
	c, err := db.CountAll(ctx)
	if err != nil || c.Users != 3 || c.DisabledUsers != 1 || c.Admins != 1 {
		t.Fatalf("counts %+v %v", c, err)
	}
}

func TestLongestClientTokenTTL(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	if d, err := db.LongestClientTokenTTL(ctx); err != nil || d != 0 {
		t.Fatalf("no clients: %v %v", d, err)
	}
	for _, c := range []*Client{
		{Name: "a", RedirectURIs: StringList{"https://a/cb"}, AccessTokenTTL: 600, IDTokenTTL: 3600},
		{Name: "b", RedirectURIs: StringList{"https://b/cb"}, AccessTokenTTL: 7200},
		{Name: "c", RedirectURIs: StringList{"https://c/cb"}},
	} {
		if _, err := db.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := db.LongestClientTokenTTL(ctx); err != nil || d != 2*time.Hour {
		t.Fatalf("longest: %v %v, want 2h", d, err)
	}
}
