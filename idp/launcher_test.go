package idp

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/models"
)

// launcherPNG is a w×h PNG.
func launcherPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(1, 1, color.RGBA{G: 160, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// logoServer serves a good logo and bad answers on loopback (the test
// issuer is on loopback, so the outbound policy allows it), counting the
// fetches of the good one.
func logoServer(t *testing.T, logo []byte) (string, *int) {
	t.Helper()
	fetched := new(int)
	mux := http.NewServeMux()
	mux.HandleFunc("/logo.png", func(w http.ResponseWriter, _ *http.Request) {
		*fetched++
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(logo)
	})
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<svg onload=alert(1)>"))
	})
	mux.HandleFunc("/lying.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("GIF89a not a png at all"))
	})
	mux.HandleFunc("/huge.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(bytes.Repeat([]byte{0}, 300<<10))
	})
	mux.HandleFunc("/moved.png", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/logo.png", http.StatusFound)
	})
	return serveLoopback(t, mux), fetched
}

// TestLauncher: launch and logo URLs through the API, the console and
// their refusals; the logo is fetched once and served from our origin;
// the account page lists the apps the user may open (no group
// restriction or a group of theirs) and keeps the consents.
func TestLauncher(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	logo := launcherPNG(t, 48, 48)
	logos, fetched := logoServer(t, logo)
	root, _ := app.newUser("apiroot", true)
	token, _, err := app.db.CreateAPIToken(ctx, "ci", root.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"name": "Wiki", "redirect_uris": []string{"https://wiki.example/cb"}}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	clientsBefore := countRows(t, app.testApp, "clients")
	for _, bad := range []struct {
		field, value, want string
	}{
		{"launch_url", "http://wiki.example/", "must use https"},
		{"launch_url", "https://user:pw@wiki.example/", "must not contain a user name or password"},
		{"launch_url", "javascript:alert(1)", "absolute https URL"},
		{"launch_url", "https://wiki.example/\r\nX: y", "line break"},
		{"launch_url", "https://wiki.example/" + strings.Repeat("a", 2048), "longer than 2048"},
		{"logo_url", "ftp://wiki.example/logo.png", "must be an https URL"},
		{"logo_url", logos + "/missing.png", "answered 404"},
		{"logo_url", logos + "/page.html", "must be image/png or image/jpeg"},
		{"logo_url", logos + "/lying.png", "PNG or JPEG"},
		{"logo_url", logos + "/huge.png", "at most 256 KiB"},
		{"logo_url", logos + "/moved.png", "answered 302"},
		{"logo_url", "https://169.254.169.254/logo.png", "link-local"},
	} {
		var out struct{ Error, Message string }
		st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, with("launch_url", "https://wiki.example/", bad.field, bad.value), &out)
		if st != http.StatusUnprocessableEntity || !strings.Contains(out.Error+out.Message, bad.want) {
			t.Errorf("%s=%q: %d %+v, want 422 with %q", bad.field, bad.value, st, out, bad.want)
		}
	}
	if n := countRows(t, app.testApp, "clients"); n != clientsBefore {
		t.Fatalf("refused requests created %d clients", n-clientsBefore)
	}
	var wiki admin.APIClient
	if st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, with("launch_url", "https://wiki.example/start", "logo_url", logos+"/logo.png"), &wiki); st != http.StatusCreated {
		t.Fatalf("create with launcher fields: %d", st)
	}
	if wiki.LaunchURL != "https://wiki.example/start" || wiki.LogoURL != logos+"/logo.png" || wiki.LogoPath != "/apps/"+wiki.ID+"/logo" || *fetched != 1 {
		t.Fatalf("created %+v, logo fetched %d times", wiki, *fetched)
	}
	// Saving again without a new URL does not fetch again.
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+wiki.ID, token, map[string]any{"name": "Wiki"}, &wiki); st != http.StatusOK || *fetched != 1 {
		t.Fatalf("patch: %d, fetched %d", st, *fetched)
	}
	// A refused change changes nothing.
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+wiki.ID, token, map[string]any{"logo_url": logos + "/page.html", "launch_url": "https://other.example/"}, nil); st != http.StatusUnprocessableEntity {
		t.Fatalf("bad patch: %d", st)
	}
	if cl, _ := app.db.ClientByID(ctx, wiki.ID); cl.LaunchURL != "https://wiki.example/start" || cl.LogoType != "image/png" {
		t.Fatalf("a refused patch changed the client: %+v", cl)
	}
	// Restricted to a group the user is not in; and one without a launch URL.
	app.newClient("https://hr.example/cb", func(c *models.Client) {
		c.Name, c.LaunchURL, c.AllowedGroups = "HR portal", "https://hr.example/", models.StringList{"hr"}
	})
	app.newClient("https://api.example/cb", func(c *models.Client) { c.Name = "Hidden API" })
	staffApp, _ := app.newClient("https://staff.example/cb", func(c *models.Client) {
		c.Name, c.LaunchURL, c.AllowedGroups = "Staff board", "https://staff.example/", models.StringList{"staff"}
	})

	u, link := app.newUser("ina", false)
	if err := app.db.SetUserGroups(ctx, u.ID, []string{"staff"}); err != nil {
		t.Fatal(err)
	}
	b := app.newBrowser()
	b.register(link)
	b.accountSignIn()
	body, _ := b.page("/account", http.StatusOK)
	for _, want := range []string{`href="https://wiki.example/start"`, `src="/apps/` + wiki.ID + `/logo?v=`, "Wiki", `href="https://staff.example/"`, "Staff board"} {
		if !strings.Contains(body, want) {
			t.Errorf("the launcher lacks %q", want)
		}
	}
	for _, not := range []string{"HR portal", "Hidden API", `src="/apps/` + staffApp.ID + `/logo`} {
		if strings.Contains(body, not) {
			t.Errorf("the launcher shows %q", not)
		}
	}
	resp := b.get("/apps/" + wiki.ID + "/logo")
	got := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || got != string(logo) ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("logo: %d %s (%d bytes)", resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
	}
	resp = b.get("/account")
	readBody(t, resp)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") {
		t.Errorf("the CSP changed: %s", csp)
	}
	resp = b.get("/apps/" + staffApp.ID + "/logo")
	if readBody(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a client without a logo answered %d", resp.StatusCode)
	}
	resp = b.get("/apps/nope/logo")
	if readBody(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown client's logo answered %d", resp.StatusCode)
	}

	// The console: clearing the logo URL removes the logo; a bad launch
	// URL is refused on the form.
	cb, _ := adminWithConsole(t, app)
	page := app.adminURL + "/admin/clients/" + wiki.ID
	form, csrf := cb.adminPage(page, http.StatusOK)
	if !strings.Contains(form, `name="launch_url"`) || !strings.Contains(form, `value="https://wiki.example/start"`) || !strings.Contains(form, `id="current-logo"`) {
		t.Fatal("the console form lacks the launcher fields")
	}
	vals := url.Values{"name": {"Wiki"}, "redirect_uris": {"https://wiki.example/cb"}, "id_token_alg": {"RS256"}, "launch_url": {"http://wiki.example/"}}
	resp = cb.postForm(page, csrf, vals)
	if got := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(got, "must use https") {
		t.Fatalf("console bad launch URL: %d", resp.StatusCode)
	}
	vals.Set("launch_url", "https://wiki.example/home")
	vals.Set("logo_url", "")
	if resp = cb.postForm(page, csrf, vals); readBody(t, resp) != "" || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console save: %d", resp.StatusCode)
	}
	cl, _ := app.db.ClientByID(ctx, wiki.ID)
	if cl.LaunchURL != "https://wiki.example/home" || cl.LogoURL != "" || cl.LogoType != "" {
		t.Fatalf("after the console: %+v", cl)
	}
	if _, _, err := app.db.ClientLogo(ctx, wiki.ID); err == nil {
		t.Error("the logo stayed after its URL was cleared")
	}
}
