package idp

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/models"
)

// addPagingUsers creates n users pg-000… with emails Mail-NNN@Example.org
// and, for every tenth, the display name "Zed NNN".
func addPagingUsers(t *testing.T, app *adminApp, n int) {
	t.Helper()
	for i := range n {
		u := &models.User{Username: fmt.Sprintf("pg-%03d", i), Email: fmt.Sprintf("Mail-%03d@Example.org", i)}
		if i%10 == 0 {
			u.DisplayName = fmt.Sprintf("Zed %03d", i)
		}
		if err := app.db.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
}

type apiUsersPage struct {
	Users []admin.APIUser `json:"users"`
	Next  *string         `json:"next"`
}

// /api/v1/users pages by cursor: every user once, in username order, the
// last page without next; limit out of 1–1000, a non-number or an offset
// is a 400 with a JSON error; q is a case-insensitive prefix of username,
// email or display name. Groups and clients page the same way.
func TestAdminAPIPaging(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	root, _ := app.newUser("root", true)
	token, _, err := app.db.CreateAPIToken(ctx, "paging", root.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	addPagingUsers(t, app, 23)
	get := func(path string, out any) int {
		t.Helper()
		return apiCall(t, app, http.MethodGet, path, token, nil, out)
	}

	var names []string
	after, pages := "", 0
	for {
		var p apiUsersPage
		if st := get("/api/v1/users?limit=5&after="+url.QueryEscape(after), &p); st != http.StatusOK {
			t.Fatalf("page %d: status %d", pages, st)
		}
		pages++
		for _, u := range p.Users {
			names = append(names, u.Username)
		}
		if p.Next == nil {
			if len(p.Users) > 5 {
				t.Fatalf("last page has %d users", len(p.Users))
			}
			break
		}
		if len(p.Users) != 5 || *p.Next != p.Users[4].Username {
			t.Fatalf("page %d: %d users, next %q", pages, len(p.Users), *p.Next)
		}
		after = *p.Next
	}
	if len(names) != 24 || pages != 5 || !slices.IsSorted(names) || slices.Compact(slices.Clone(names))[23] != names[23] {
		t.Fatalf("paged %d users in %d pages: %v", len(names), pages, names)
	}

	var full apiUsersPage
	if st := get("/api/v1/users", &full); st != http.StatusOK || len(full.Users) != 24 || full.Next != nil {
		t.Fatalf("default page: %d, %d users, next %v", st, len(full.Users), full.Next)
	}
	if st := get("/api/v1/users?limit=1000", &full); st != http.StatusOK || len(full.Users) != 24 {
		t.Fatalf("limit=1000: %d", st)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=-3", "limit=ten", "offset=5", "limit=5&offset=0"} {
		var e map[string]string
		if st := get("/api/v1/users?"+bad, &e); st != http.StatusBadRequest || !strings.Contains(e["error"], "offset") && !strings.Contains(e["error"], "limit must be a number from 1 to 1000") {
			t.Errorf("%s: %d %v, want 400 with a clear error", bad, st, e)
		}
	}
	// A cursor past every username is an empty last page.
	var end apiUsersPage
	if st := get("/api/v1/users?after=zzz", &end); st != http.StatusOK || len(end.Users) != 0 || end.Next != nil {
		t.Fatalf("after the end: %d %+v", st, end)
	}

	for _, tc := range []struct {
		q    string
		want int
	}{
		{"PG-01", 10},   // username, case-insensitive
		{"mail-02", 3},  // email, case-insensitive: Mail-020…022
		{"zed", 3},      // display name: Zed 000, 010, 020
		{"ROOT@", 1},    // email root@example.com
		{"example", 0},  // a prefix, not a substring
		{"pg-0%", 0},    // LIKE wildcards are literal
		{"pg-", 23},     // the whole set, paged below
		{"  Zed  ", 3},  // trimmed
		{"mail-022", 1}, // a single match
	} {
		var p apiUsersPage
		if st := get("/api/v1/users?q="+url.QueryEscape(tc.q), &p); st != http.StatusOK || len(p.Users) != tc.want || p.Next != nil {
			t.Errorf("q=%q: %d, %d users (next %v), want %d", tc.q, st, len(p.Users), p.Next, tc.want)
		}
	}
	var s1, s2 apiUsersPage
	if st := get("/api/v1/users?q=MAIL&limit=20", &s1); st != http.StatusOK || len(s1.Users) != 20 || s1.Next == nil || *s1.Next != "pg-019" {
		t.Fatalf("search page 1: %d %d %v", st, len(s1.Users), s1.Next)
	}
	if st := get("/api/v1/users?q=MAIL&limit=20&after="+*s1.Next, &s2); st != http.StatusOK || len(s2.Users) != 3 || s2.Next != nil || s2.Users[0].Username != "pg-020" {
		t.Fatalf("search page 2: %d %+v", st, s2)
	}

	// Groups and clients.
	for i := range 7 {
		if _, err := app.db.CreateGroup(ctx, fmt.Sprintf("team-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var groups []string
	after = ""
	for {
		var p struct {
			Groups []struct{ Name string } `json:"groups"`
			Next   *string                 `json:"next"`
		}
		if st := get("/api/v1/groups?limit=3&after="+url.QueryEscape(after), &p); st != http.StatusOK {
			t.Fatalf("groups: %d", st)
		}
		for _, g := range p.Groups {
			groups = append(groups, g.Name)
		}
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	if len(groups) != 7 || !slices.IsSorted(groups) {
		t.Fatalf("groups paged: %v", groups)
	}
	for i := range 5 {
		if _, err := app.db.CreateClient(ctx, &models.Client{Name: fmt.Sprintf("App %d", i%2), RedirectURIs: models.StringList{"https://app.example/cb"}}); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := app.db.ListClients(ctx)
	var clients []string
	after = ""
	for {
		var p struct {
			Clients []admin.APIClient `json:"clients"`
			Next    *string           `json:"next"`
		}
		if st := get("/api/v1/clients?limit=2&after="+url.QueryEscape(after), &p); st != http.StatusOK {
			t.Fatalf("clients: %d", st)
		}
		for _, c := range p.Clients {
			clients = append(clients, c.ID)
		}
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	if len(clients) != len(all) || len(all) < 5 {
		t.Fatalf("clients paged: %d of %d", len(clients), len(all))
	}
	slices.Sort(clients)
	if len(slices.Compact(clients)) != len(all) {
		t.Fatalf("clients paged twice: %v", clients)
	}
	var e map[string]string
	if st := get("/api/v1/clients?after=no-such-client", &e); st != http.StatusBadRequest || !strings.Contains(strings.ToLower(e["error"]), "no client") {
		t.Fatalf("unknown client cursor: %d %v", st, e)
	}
}

var userRowRe = regexp.MustCompile(`<a href="/admin/users/[^"]+">([^<]+)</a>`)
var pagerRe = regexp.MustCompile(`<a href="([^"]+)" rel="(prev|next)"`)

// consoleUsers returns the usernames of a console users page and its
// Previous and Next links.
func consoleUsers(t *testing.T, b *browser, u string) (names []string, prev, next string) {
	t.Helper()
	body, _ := b.adminPage(u, http.StatusOK)
	if strings.Contains(body, "Page 1 of") || strings.Contains(body, " users</span>") {
		t.Fatalf("the users page counts: %s", body)
	}
	for _, m := range userRowRe.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	for _, m := range pagerRe.FindAllStringSubmatch(body, -1) {
		if m[2] == "prev" {
			prev = html.UnescapeString(m[1])
		} else {
			next = html.UnescapeString(m[1])
		}
	}
	return names, prev, next
}

// The console's users page pages by cursor forward and back over 50-user
// pages and searches on the server by prefix, keeping the search in its
// links.
func TestAdminConsoleUsersPaging(t *testing.T) {
	app := newAdminApp(t)
	b, _ := adminWithConsole(t, app)
	addPagingUsers(t, app, 120)

	var seen []string
	var pages []string // the URL of each page
	u := app.adminURL + "/admin/users"
	for u != "" {
		names, prev, next := consoleUsers(t, b, u)
		if len(pages) == 0 && prev != "" || len(pages) > 0 && prev == "" {
			t.Fatalf("page %d: previous link %q", len(pages), prev)
		}
		if next != "" && len(names) != 50 {
			t.Fatalf("page %d has %d users and a next link", len(pages), len(names))
		}
		pages = append(pages, u)
		seen = append(seen, names...)
		if next != "" {
			next = app.adminURL + next
		}
		u = next
	}
	if len(seen) != 121 || len(pages) != 3 || !slices.IsSorted(seen) {
		t.Fatalf("paged %d users over %d pages", len(seen), len(pages))
	}
	// Back from the last page: the same second page, then the first.
	_, prev, _ := consoleUsers(t, b, pages[2])
	names, prev2, next2 := consoleUsers(t, b, app.adminURL+prev)
	if !slices.Equal(names, seen[50:100]) || prev2 == "" || next2 == "" {
		t.Fatalf("previous of the last page: %v (prev %q next %q)", names, prev2, next2)
	}
	names, prev3, _ := consoleUsers(t, b, app.adminURL+prev2)
	if !slices.Equal(names, seen[:50]) || prev3 != "" {
		t.Fatalf("first page again: %v (prev %q)", names, prev3)
	}

	// Search: prefix of username, email or name; the links keep q.
	names, _, next := consoleUsers(t, b, app.adminURL+"/admin/users?q=MAIL-0")
	if len(names) != 50 || names[0] != "pg-000" || !strings.Contains(next, "q=MAIL-0") {
		t.Fatalf("search page 1: %d users, next %q", len(names), next)
	}
	names, prev, next = consoleUsers(t, b, app.adminURL+next)
	if len(names) != 50 || names[0] != "pg-050" || next != "" || !strings.Contains(prev, "q=MAIL-0") {
		t.Fatalf("search page 2: %d users from %v, prev %q next %q", len(names), names[:1], prev, next)
	}
	if names, _, _ := consoleUsers(t, b, app.adminURL+"/admin/users?q=zed+1"); !slices.Equal(names, []string{"pg-100", "pg-110"}) {
		t.Fatalf("search by name: %v", names)
	}
	body, _ := b.adminPage(app.adminURL+"/admin/users?q=nobody", http.StatusOK)
	if !strings.Contains(body, "starts with “nobody”") {
		t.Fatalf("empty search: %s", body)
	}
	body, _ = b.adminPage(app.adminURL+"/admin/users?after=zzz", http.StatusOK)
	if !strings.Contains(body, "Back to the first page") {
		t.Fatalf("past the end: %s", body)
	}
}

// walkConsole follows a console list's Next links from u and returns, per
// page, the first submatch of every match of row; it checks that a page
// has a Previous link exactly when it is not the first, and that Previous
// from the last page shows the page before it again.
func walkConsole(t *testing.T, app *adminApp, b *browser, u string, row *regexp.Regexp) [][]string {
	t.Helper()
	var pages [][]string
	var prevOfLast string
	for u != "" {
		body, _ := b.adminPage(u, http.StatusOK)
		var items []string
		for _, m := range row.FindAllStringSubmatch(body, -1) {
			items = append(items, m[1])
		}
		prev, next := "", ""
		for _, m := range pagerRe.FindAllStringSubmatch(body, -1) {
			if m[2] == "prev" {
				prev = html.UnescapeString(m[1])
			} else {
				next = html.UnescapeString(m[1])
			}
		}
		if (len(pages) == 0) != (prev == "") {
			t.Fatalf("%s: page %d, previous link %q", u, len(pages), prev)
		}
		pages = append(pages, items)
		prevOfLast, u = prev, ""
		if next != "" {
			u = app.adminURL + next
		}
	}
	if len(pages) > 1 {
		body, _ := b.adminPage(app.adminURL+prevOfLast, http.StatusOK)
		var items []string
		for _, m := range row.FindAllStringSubmatch(body, -1) {
			items = append(items, m[1])
		}
		if !slices.Equal(items, pages[len(pages)-2]) {
			t.Fatalf("previous of the last page: %v, want %v", items, pages[len(pages)-2])
		}
	}
	return pages
}

// The console's groups, a group's members, applications and the audit log
// page by cursor in 50-row pages, forward and back.
func TestAdminConsoleListsPaging(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, _ := adminWithConsole(t, app)
	addPagingUsers(t, app, 60)
	var staff *models.Group
	for i := range 55 {
		g, err := app.db.CreateGroup(ctx, fmt.Sprintf("team-%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		staff = g
	}
	us, err := app.db.ListUsersPage(ctx, "", "pg-", 100)
	if err != nil || len(us) != 60 {
		t.Fatalf("users: %d %v", len(us), err)
	}
	for _, u := range us {
		if err := app.db.AddGroupMember(ctx, staff.ID, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 52 {
		if _, err := app.db.CreateClient(ctx, &models.Client{Name: fmt.Sprintf("App %02d", i%30), RedirectURIs: models.StringList{"https://app.example/cb"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 110 {
		if err := app.db.Audit(ctx, &models.AuditEvent{Type: "paging_test", Success: true, Detail: models.JSONMap{"n": i}}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(pages [][]string) (n int, all []string) {
		for _, p := range pages {
			n += len(p)
			all = append(all, p...)
		}
		return n, all
	}

	groups := walkConsole(t, app, b, app.adminURL+"/admin/groups", regexp.MustCompile(`<a href="/admin/groups/[^"]+">([^<]+)</a>`))
	if n, all := count(groups); n != 55 || len(groups) != 2 || !slices.IsSorted(all) {
		t.Fatalf("groups: %d over %d pages", n, len(groups))
	}
	members := walkConsole(t, app, b, app.adminURL+"/admin/groups/"+staff.ID, regexp.MustCompile(`<li><a href="/admin/users/[^"]+">([^<]+)</a>`))
	if n, all := count(members); n != 60 || len(members) != 2 || !slices.IsSorted(all) {
		t.Fatalf("members: %d over %d pages", n, len(members))
	}
	clients := walkConsole(t, app, b, app.adminURL+"/admin/clients", regexp.MustCompile(`<td><code>([^<]+)</code></td>`))
	all, _ := app.db.ListClients(ctx)
	if n, ids := count(clients); n != len(all) || len(clients) != 2 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != n {
		t.Fatalf("clients: %d of %d over %d pages", n, len(all), len(clients))
	}
	b.page(app.adminURL+"/admin/clients?after=nope", http.StatusBadRequest) // an unknown client cursor
	// The audit log of one type: 110 events, newest first.
	events := walkConsole(t, app, b, app.adminURL+"/admin/audit?type=paging_test", regexp.MustCompile(`<code class="detail">\{&#34;n&#34;:(\d+)\}</code>`))
	if n, ns := count(events); n != 110 || len(events) != 3 || ns[0] != "109" || ns[109] != "0" {
		t.Fatalf("audit: %d events over %d pages: %v", n, len(events), ns)
	}
}
