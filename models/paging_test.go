package models

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
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

// indexWalk matches a step that reads a table of a list in the order of
// one of its indexes.
var indexWalk = regexp.MustCompile(`SCAN (users|audit_events|clients|groups|user_groups) USING (COVERING )?INDEX`)

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
	// A group with every user: its members page walks the username
	// index once the group is larger than sortCap.
	everyone, err := db.CreateGroup(ctx, "everyone")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.Exec("INSERT INTO user_groups (user_id, group_id) SELECT id, ? FROM users", everyone.ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateGroup(ctx, "Staff-2"); err != nil {
		t.Fatal(err)
	}
	// walking runs f with a sort cap below the test's 300 users, as a
	// million users make it for a broad prefix or a large group.
	walking := func(f func(d *DB) error) func(d *DB) error {
		return func(d *DB) error {
			defer func(old int) { sortCapFactor = old }(sortCapFactor)
			sortCapFactor = 1
			return f(d)
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
		// sorts: the plan may sort, because what it sorts is bounded: a
		// search merges three ranges of one page each (the audit log by
		// user two: as subject and as actor); a group's members
		// are sorted by username (the cost of the group's size, not of
		// the users table).
		sorts bool
	}{
		{name: "users first page", walk: true, run: func(d *DB) error { _, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: page}); return err }},
		{name: "users after", want: []string{"username>?"}, run: func(d *DB) error { _, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: after}); return err }},
		{name: "users before", want: []string{"username<?"}, run: func(d *DB) error { _, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: before}); return err }},
		{name: "users search", sorts: true, want: []string{"users_email_lower", "users_display_name_lower", "username>? AND username<?"},
			run: func(d *DB) error {
				_, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: page, Prefix: "Carol"})
				return err
			}},
		{name: "users search after", sorts: true, want: []string{"users_email_lower", "users_display_name_lower"},
			run: func(d *DB) error {
				_, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: after, Prefix: "user-0001"})
				return err
			}},
		{name: "users search before", sorts: true, want: []string{"users_email_lower", "users_display_name_lower"},
			run: func(d *DB) error {
				_, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: before, Prefix: "u"})
				return err
			}},
		// A broad prefix (every email): the email and name branches walk
		// the username index from the cursor instead of sorting the range;
		// what the union sorts is three pages at most.
		{name: "users search broad after", sorts: true, want: []string{"users_email_lower", "username>?"},
			run: walking(func(d *DB) error {
				_, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: after, Prefix: "user-"})
				return err
			})},
		{name: "users search broad first page", sorts: true, walk: true, want: []string{"users_email_lower"},
			run: walking(func(d *DB) error {
				_, _, err := d.SearchUsers(ctx, UserSearch{PageQuery: page, Prefix: "U"})
				return err
			})},
		{name: "group names search", want: []string{"groups_name_lower"}, run: func(d *DB) error {
			_, err := d.SearchGroupNames(ctx, "sta", 20)
			return err
		}},
		{name: "group names first page", walk: true, run: func(d *DB) error {
			_, err := d.SearchGroupNames(ctx, "", 20)
			return err
		}},
		{name: "missing groups", want: []string{"name=?"}, run: func(d *DB) error {
			_, err := d.MissingGroups(ctx, []string{"staff", "nope"})
			return err
		}},
		{name: "large group members", want: []string{"username>?", "user_groups"}, run: walking(func(d *DB) error {
			_, _, err := d.GroupMembersPage(ctx, everyone.ID, after)
			return err
		})},
		{name: "large group members first page", walk: true, want: []string{"user_groups"}, run: walking(func(d *DB) error {
			_, _, err := d.GroupMembersPage(ctx, everyone.ID, page)
			return err
		})},
		{name: "groups first page", walk: true, run: func(d *DB) error { _, _, err := d.ListGroupsPage(ctx, page); return err }},
		{name: "groups after", want: []string{"name>?"}, run: func(d *DB) error {
			_, _, err := d.ListGroupsPage(ctx, PageQuery{After: "s", Limit: 50})
			return err
		}},
		{name: "group members", sorts: true, want: []string{"user_groups_group"}, run: func(d *DB) error {
			_, _, err := d.GroupMembersPage(ctx, g.ID, after)
			return err
		}},
		{name: "clients first page", walk: true, run: func(d *DB) error { _, _, err := d.ListClientsPage(ctx, page); return err }},
		{name: "clients after", want: []string{"clients_name_id"}, run: func(d *DB) error {
			_, _, err := d.ListClientsPage(ctx, PageQuery{After: app.ID, Limit: 50})
			return err
		}},
		{name: "undeliverable mail first page", walk: true, run: func(d *DB) error { _, _, err := d.UndeliverableMail(ctx, page); return err }},
		{name: "undeliverable mail after", want: []string{"outbox_failed_list"}, run: func(d *DB) error {
			_, _, err := d.UndeliverableMail(ctx, PageQuery{After: "0", Limit: 50})
			return err
		}},
		{name: "audit first page", walk: true, run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{}); return err }},
		{name: "audit older", want: []string{"rowid<?"}, run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{BeforeID: 10}); return err }},
		{name: "audit newer", want: []string{"rowid>?"}, run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{AfterID: 10}); return err }},
		{name: "audit by user", sorts: true, want: []string{"audit_events_user", "audit_events_actor"},
			run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{UserID: "u", BeforeID: 10}); return err }},
		{name: "audit by type", want: []string{"audit_events_type"},
			run: func(d *DB) error { _, _, err := d.QueryAudit(ctx, AuditQuery{Type: EventSignIn}); return err }},
		{name: "audit since", want: []string{"audit_events_created", "rowid>?"}, run: func(d *DB) error {
			_, _, err := d.QueryAudit(ctx, AuditQuery{Since: clock.Now().Add(-time.Hour), Until: clock.Now().Add(-time.Second)})
			return err
		}},
		{name: "recent failures of a type", want: []string{"audit_events_type_day"}, run: func(d *DB) error {
			_, _, err := d.CountRecentAudit(ctx, EventSignInFailed, false, clock.Now().Add(-24*time.Hour), 1000)
			return err
		}},
		{name: "audit types", want: []string{"audit_events_type"}, run: func(d *DB) error { _, err := d.AuditTypes(ctx); return err }},
		// The account page (issue 22): a user's recent sign-ins walk
		// (user_id, type, id) newest first; the launcher walks the partial
		// index of clients with a launch URL by name.
		{name: "recent sign-ins", want: []string{"audit_events_user_type"}, run: func(d *DB) error {
			_, err := d.RecentSignIns(ctx, "u", 10)
			return err
		}},
		{name: "launcher", walk: true, want: []string{"clients_launcher"}, run: func(d *DB) error {
			_, err := d.LauncherApps(ctx, []string{"staff"})
			return err
		}},
		{name: "blocked passkeys", want: []string{"credentials_clone_warning"}, run: func(d *DB) error { _, err := d.BlockedPasskeys(ctx, 21); return err }},
		{name: "signup links", walk: true, want: []string{"signup_links_created"}, run: func(d *DB) error { _, err := d.SignupLinks(ctx, 200); return err }},
		{name: "recovery codes of a user", want: []string{"recovery_codes_user"}, run: func(d *DB) error { _, err := d.UnusedRecoveryCodes(ctx, "x"); return err }},
		{name: "credentials page", want: []string{"credentials"}, run: func(d *DB) error { _, err := d.CredentialsPage(ctx, "x", 500); return err }},
		// SCIM filters that Entra ID and Okta send (eq on userName,
		// externalId, emails; sw) read an index, for the total and the page.
		{name: "scim userName eq", want: []string{"username=?"}, run: scimUsers(ctx, &Filter{Op: "eq", Attr: "username", Value: "user-000100"})},
		{name: "scim externalId eq", want: []string{"users_external_id"}, run: scimUsers(ctx, &Filter{Op: "eq", Attr: "external_id", Value: "x"})},
		{name: "scim email eq", want: []string{"users_email_lower"}, run: scimUsers(ctx, &Filter{Op: "eq", Attr: "email", Value: "A@B"})},
		{name: "scim userName sw", want: []string{"username>? AND username<?"}, run: scimUsers(ctx, &Filter{Op: "sw", Attr: "username", Value: "user-0001"})},
		// Two equalities: it sorts what they match (a user or two).
		{name: "scim userName eq or externalId eq", sorts: true, want: []string{"users_external_id"},
			run: scimUsers(ctx, &Filter{Op: "or", Sub: []Filter{{Op: "eq", Attr: "username", Value: "a"}, {Op: "eq", Attr: "external_id", Value: "b"}}})},
		{name: "scim group displayName eq", want: []string{"name=?"}, run: func(d *DB) error {
			_, err := d.SCIMGroups(ctx, SCIMQuery{Filter: &Filter{Op: "eq", Attr: "display_name", Value: "staff"}, Count: 50})
			return err
		}},
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
				// A walk reads an index in key order and stops at the
				// LIMIT: the first statement, or a later one reading an index
				// ("SCAN t USING INDEX i"), never the table itself.
				if m := fullScan.FindString(plan); m != "" && (!tc.walk || len(plans) > 1 && !indexWalk.MatchString(plan)) {
					t.Errorf("%s: %q in the plan of %s\n  plan: %s", tc.name, m, q, plan)
				}
				// A page read in its order stops at the LIMIT; a sort
				// reads every matching row first, unless what it sorts
				// is already cut (sorts).
				if strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") && !tc.sorts {
					t.Errorf("%s: sorts every matching row: %s\n  plan: %s", tc.name, q, plan)
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

// scimUsers runs a SCIM user list with filter f.
func scimUsers(ctx context.Context, f *Filter) func(d *DB) error {
	return func(d *DB) error {
		_, err := d.SCIMUsers(ctx, SCIMQuery{Filter: f, Count: 50})
		return err
	}
}

// A time range selects exactly the events in it, newest first and page by
// page, also when an instance's clock was a little behind (an event with a
// later ID but an earlier time), and nothing when no event can match.
func TestAuditTimeRange(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// One event an hour for three days; right after the first of the
	// third day, an instance whose clock is 30 s behind writes one that
	// belongs to the second day.
	for h := range 72 {
		if err := db.Audit(ctx, &AuditEvent{Type: EventSignIn, Detail: JSONMap{"n": strconv.Itoa(h)}, CreatedAt: base.Add(time.Duration(h) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if h == 48 {
			if err := db.Audit(ctx, &AuditEvent{Type: EventSignIn, Detail: JSONMap{"n": "skewed"}, CreatedAt: base.Add(48*time.Hour - 10*time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	day2, day3 := base.Add(24*time.Hour), base.Add(48*time.Hour)
	var got []string
	q := AuditQuery{Since: day2, Until: day3, Limit: 10}
	for page := 0; ; page++ {
		evs, more, err := db.QueryAudit(ctx, q)
		if err != nil || page > 5 {
			t.Fatal(err, page)
		}
		for _, ev := range evs {
			got = append(got, fmt.Sprint(ev.Detail["n"]))
		}
		if !more {
			break
		}
		q.BeforeID = evs[len(evs)-1].ID
	}
	want := []string{"skewed"}
	for h := 47; h >= 24; h-- {
		want = append(want, strconv.Itoa(h))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("day 2 = %v\nwant %v", got, want)
	}
	for _, tc := range []struct {
		q    AuditQuery
		want int
	}{
		{AuditQuery{Since: base.Add(100 * time.Hour)}, 0},
		{AuditQuery{Until: base}, 0},
		{AuditQuery{Since: day3, Limit: 1000}, 24},
		{AuditQuery{Until: day2, Limit: 1000}, 24},
		{AuditQuery{Since: base.Add(-time.Hour), Until: base.Add(200 * time.Hour), Limit: 1000}, 73},
	} {
		evs, more, err := db.QueryAudit(ctx, tc.q)
		if err != nil || more || len(evs) != tc.want {
			t.Errorf("%+v: %d events, more %v, %v; want %d", tc.q, len(evs), more, err, tc.want)
		}
	}
}
