package models

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// sqlRecorder is a GORM logger that keeps every statement run, with its
// arguments in place, so a test can ask SQLite how it plans them.
type sqlRecorder struct {
	logger.Interface
	stmts []string
}

func (r *sqlRecorder) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	sql, _ := fc()
	r.stmts = append(r.stmts, sql)
}

// recording returns a DB whose statements rec records.
func recording(db *DB, rec *sqlRecorder) *DB {
	rec.Interface = logger.Discard
	c := *db.conn
	c.gorm = db.gorm.Session(&gorm.Session{Logger: rec})
	return newDB(&c)
}

// queryPlan returns SQLite's EXPLAIN QUERY PLAN of q, one detail a step.
func queryPlan(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	var plan []struct {
		ID, Parent, Notused int
		Detail              string
	}
	if err := db.gorm.Raw("EXPLAIN QUERY PLAN "+q, args...).Scan(&plan).Error; err != nil {
		t.Fatalf("explain %q: %v", q, err)
	}
	var details []string
	for _, p := range plan {
		details = append(details, p.Detail)
	}
	return strings.Join(details, "; ")
}

// fullScan matches a step that reads a whole table of a list: a SCAN
// without an index (SQLite prints "SCAN t" or "SCAN t USING …").
var fullScan = regexp.MustCompile(`SCAN (users|audit_events|clients|groups|user_groups)\b`)

// Every query of the lists that page (users, search, groups and members,
// clients, audit log and its filters, the policy's passkeys) searches an
// index on SQLite: no step scans users, audit_events, clients or groups,
// except the first page of a list in key order (walk), which stops at its
// LIMIT; and the searches name the indexes they need.
func TestListQueriesUseIndexes(t *testing.T) {
	db, clock := newTestDB(t)
	if db.IsPostgres() {
		t.Skip("EXPLAIN QUERY PLAN is SQLite's; Postgres plans by its statistics")
	}
	ctx := context.Background()
	insertUsers(t, db, 300)
	g, err := db.CreateGroup(ctx, "staff")
	if err != nil {
		t.Fatal(err)
	}
	app := &Client{Name: "App", RedirectURIs: StringList{"https://app.example/cb"}}
	if _, err := db.CreateClient(ctx, app); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := db.Audit(ctx, &AuditEvent{Type: EventSignIn, UserID: "u", CreatedAt: clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	page := PageQuery{Limit: 50}
	after := PageQuery{After: "user-000100", Limit: 50}
	before := PageQuery{Before: "user-000100", Limit: 50}
	cases := []struct {
		name string
		run  func(d *DB) error
		walk bool     // a first page: a walk in key order that stops at the LIMIT
		want []string // plan fragments that must appear
	}{
		{name: "users first page", walk: true, run: func(d *DB) error { _, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: page}); return err }},
		{name: "users after", want: []string{"username>?"}, run: func(d *DB) error { _, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: after}); return err }},
		{name: "users before", want: []string{"username<?"}, run: func(d *DB) error { _, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: before}); return err }},
		{name: "users search", want: []string{"users_email_lower", "users_display_name_lower", "username>? AND username<?"},
			run: func(d *DB) error {
				_, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: page, Prefix: "Carol"})
				return err
			}},
		{name: "users search after", want: []string{"users_email_lower", "users_display_name_lower"},
			run: func(d *DB) error {
				_, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: after, Prefix: "user-0001"})
				return err
			}},
		{name: "users search before", want: []string{"users_email_lower", "users_display_name_lower"},
			run: func(d *DB) error {
				_, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: before, Prefix: "u"})
				return err
			}},
		{name: "groups first page", walk: true, run: func(d *DB) error { _, _, err := d.ListGroupsPage(ctx, page); return err }},
		{name: "groups after", want: []string{"name>?"}, run: func(d *DB) error {
			_, _, err := d.ListGroupsPage(ctx, PageQuery{After: "s", Limit: 50})
			return err
		}},
		{name: "group members", want: []string{"user_groups_group"}, run: func(d *DB) error {
			_, _, err := d.GroupMembersPage(ctx, g.ID, after)
			return err
		}},
		{name: "clients first page", walk: true, run: func(d *DB) error { _, _, err := d.ListClientsPage(ctx, page); return err }},
		{name: "clients after", want: []string{"clients_name_id"}, run: func(d *DB) error {
			_, _, err := d.ListClientsPage(ctx, PageQuery{After: app.ID, Limit: 50})
			return err
		}},
		{name: "audit first page", walk: true, run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{}); return err }},
		{name: "audit older", want: []string{"rowid<?"}, run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{BeforeID: 10}); return err }},
		{name: "audit newer", want: []string{"rowid>?"}, run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{AfterID: 10}); return err }},
		{name: "audit by user", want: []string{"audit_events_user", "audit_events_actor"},
			run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{UserID: "u", BeforeID: 10}); return err }},
		{name: "audit by type", want: []string{"audit_events_type"},
			run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{Type: EventSignIn}); return err }},
		{name: "audit since", want: []string{"audit_events_created"}, run: func(d *DB) error {
			_, _, err := d.QueryAudit(ctx, AuditQuery{Since: clock.Now().Add(-time.Hour), Until: clock.Now()})
			return err
		}},
		{name: "audit types", want: []string{"audit_events_type"}, run: func(d *DB) error { _, err := d.AuditTypes(ctx); return err }},
		{name: "credentials page", want: []string{"credentials"}, run: func(d *DB) error { _, err := d.CredentialsPage(ctx, "x", 500); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &sqlRecorder{}
			if err := tc.run(recording(db, rec)); err != nil {
				t.Fatal(err)
			}
			var plans []string
			for _, q := range rec.stmts {
				if !strings.HasPrefix(strings.TrimSpace(q), "SELECT") && !strings.HasPrefix(strings.TrimSpace(q), "WITH") {
					continue
				}
				plan := queryPlan(t, db, q)
				t.Logf("%s\n  plan: %s", q, plan)
				plans = append(plans, plan)
				if m := fullScan.FindString(plan); m != "" && (!tc.walk || len(plans) > 1) {
					t.Errorf("%s: %q in the plan of %s\n  plan: %s", tc.name, m, q, plan)
				}
			}
			all := strings.Join(plans, "; ")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("%s: plan %q lacks %q", tc.name, all, w)
				}
			}
			if len(plans) == 0 {
				t.Fatalf("%s ran no SELECT", tc.name)
			}
		})
	}
}
