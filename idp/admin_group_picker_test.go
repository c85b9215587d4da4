package idp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/models"
)

// groupBoxes matches a group checkbox of the user and application forms.
var groupBoxes = regexp.MustCompile(`<input type="checkbox" name="groups" value="([^"]*)" checked>`)

// TestGroupPickersStayBounded: with 3,000 groups, the user and application
// forms render no list of every group: a ticked box per group the user or
// application already has, and a picker whose suggestions come from the
// server a page at a time. Typed names are checked on submit: an unknown
// one is a form error that changes nothing.
func TestGroupPickersStayBounded(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	groups := make([]models.Group, 3000)
	for i := range groups {
		groups[i] = models.Group{ID: models.NewUUID(), Name: fmt.Sprintf("g%04d", i), CreatedAt: app.db.Now()}
	}
	if err := app.db.Gorm().CreateInBatches(groups, 500).Error; err != nil {
		t.Fatal(err)
	}
	b, _ := adminWithConsole(t, app)
	boxes := func(page string) []string {
		t.Helper()
		body, _ := b.adminPage(app.adminURL+page, http.StatusOK)
		if !strings.Contains(body, `data-group-search="/admin/groups/options"`) || strings.Contains(body, "g1234") {
			t.Fatalf("%s has no group picker, or lists every group:\n%s", page, body)
		}
		var names []string
		for _, m := range groupBoxes.FindAllStringSubmatch(body, -1) {
			names = append(names, m[1])
		}
		if n := strings.Count(body, `name="groups"`); n != len(names) || n > admin.GroupSuggestions {
			t.Fatalf("%s renders %d group inputs (%d ticked), want at most %d", page, n, len(names), admin.GroupSuggestions)
		}
		return sorted(names)
	}
	for _, page := range []string{"/admin/users/new", "/admin/clients/new"} {
		if got := boxes(page); len(got) != 0 {
			t.Errorf("%s ticks %q", page, got)
		}
	}

	// The picker's suggestions: a case-insensitive prefix, a page at most.
	options := func(q string) []string {
		t.Helper()
		resp := b.get(app.adminURL + "/admin/groups/options?q=" + url.QueryEscape(q))
		body := readBody(t, resp)
		var out struct{ Groups []string }
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("options %q = %d %s", q, resp.StatusCode, body)
		}
		return out.Groups
	}
	if got := options("G12"); len(got) != admin.GroupSuggestions || got[0] != "g1200" || got[19] != "g1219" {
		t.Errorf("options G12 = %q", got)
	}
	if got := options("g2999"); !slices.Equal(got, []string{"g2999"}) {
		t.Errorf("options g2999 = %q", got)
	}
	if got := options("x"); len(got) != 0 {
		t.Errorf("options x = %q", got)
	}
	anon := app.newBrowser().get(app.adminURL + "/admin/groups/options?q=g")
	if readBody(t, anon); anon.StatusCode == http.StatusOK {
		t.Errorf("options without a console session = %d", anon.StatusCode)
	}

	// A new user with typed groups; an unknown name creates nothing.
	_, csrf := b.adminPage(app.adminURL+"/admin/users/new", http.StatusOK)
	resp := b.postForm(app.adminURL+"/admin/users", csrf, url.Values{"username": {"nina"}, "add_groups": {"g0001, g2999,nope"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `There is no group named &#34;nope&#34;`) {
		t.Fatalf("user with an unknown group = %d\n%s", resp.StatusCode, body)
	}
	if _, err := app.db.UserByUsername(ctx, "nina"); err == nil {
		t.Fatal("a refused form created the user")
	}
	resp = b.postForm(app.adminURL+"/admin/users", csrf, url.Values{"username": {"nina"}, "add_groups": {"g0001, g2999"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create nina = %d\n%s", resp.StatusCode, body)
	}
	nina, err := app.db.UserByUsername(ctx, "nina")
	if err != nil || !slices.Equal(sorted(nina.GroupNames()), []string{"g0001", "g2999"}) {
		t.Fatalf("nina = %+v, %v", nina, err)
	}
	if got := boxes("/admin/users/" + nina.ID); !slices.Equal(got, []string{"g0001", "g2999"}) {
		t.Errorf("nina's page ticks %q", got)
	}
	// Untick one, type another; then an unknown one changes nothing.
	b.expectRedirectAfter(app.adminURL+"/admin/users/"+nina.ID, csrf, url.Values{"username": {"nina"}, "groups": {"g2999"}, "add_groups": {"g0500"}})
	if nina, _ = app.db.UserByID(ctx, nina.ID); !slices.Equal(sorted(nina.GroupNames()), []string{"g0500", "g2999"}) {
		t.Fatalf("nina's groups = %q", nina.GroupNames())
	}
	resp = b.postForm(app.adminURL+"/admin/users/"+nina.ID, csrf, url.Values{"username": {"nina"}, "email": {"n@example.com"}, "add_groups": {"nope"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `no group named &#34;nope&#34;`) {
		t.Fatalf("update with an unknown group = %d\n%s", resp.StatusCode, body)
	}
	if nina, _ = app.db.UserByID(ctx, nina.ID); !slices.Equal(sorted(nina.GroupNames()), []string{"g0500", "g2999"}) || nina.Email != "" {
		t.Fatalf("a refused form changed nina: %q %q", nina.GroupNames(), nina.Email)
	}

	// An application restricted to typed groups.
	form := url.Values{"name": {"Wiki"}, "type": {"confidential"}, "redirect_uris": {"https://wiki.example.com/cb"}, "id_token_alg": {"ES256"},
		"add_groups": {"g0007,nope"}}
	resp = b.postForm(app.adminURL+"/admin/clients", csrf, form)
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `There is no group named &#34;nope&#34;`) {
		t.Fatalf("application with an unknown group = %d\n%s", resp.StatusCode, body)
	}
	form.Set("add_groups", "g0007")
	resp = b.postForm(app.adminURL+"/admin/clients", csrf, form)
	body := readBody(t, resp)
	m := regexp.MustCompile(`id="client-id">([^<]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || m == nil {
		t.Fatalf("create application = %d\n%s", resp.StatusCode, body)
	}
	if got := boxes("/admin/clients/" + m[1]); !slices.Equal(got, []string{"g0007"}) {
		t.Errorf("the application's page ticks %q", got)
	}
	form.Del("type")
	form.Set("groups", "g0007")
	form.Set("add_groups", "nope")
	resp = b.postForm(app.adminURL+"/admin/clients/"+m[1], csrf, form)
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("application update with an unknown group = %d\n%s", resp.StatusCode, body)
	}
	if cl, err := app.db.ClientByID(ctx, m[1]); err != nil || !slices.Equal([]string(cl.AllowedGroups), []string{"g0007"}) {
		t.Fatalf("a refused form changed the application: %+v %v", cl, err)
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
