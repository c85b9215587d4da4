package idp

// More Chromium coverage of the admin console and the account page
// (issue 3): every page and its form errors, clicked through in a real
// browser signed in with a virtual authenticator. One browser per test;
// the pages are subtests. Screenshots go to artifactDir like
// TestBrowserAdminConsole's.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// in returns the browser bound to a subtest, so failures stop the subtest
// (FailNow must run on the subtest's goroutine).
func (c *chrome) in(t *testing.T) *chrome {
	cc := *c
	cc.t = t
	return &cc
}

// pageWatch accepts the confirm() dialogs of data-confirm buttons and
// records them, and records uncaught exceptions and console errors.
type pageWatch struct {
	mu      sync.Mutex
	dialogs []string
	errors  []string
}

func (c *chrome) watch() *pageWatch {
	w := &pageWatch{}
	dialogs := chromedp.Events(c.ctx, page.JavascriptDialogOpening)
	exceptions := chromedp.Events(c.ctx, runtime.ExceptionThrown)
	console := chromedp.Events(c.ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.dialogs = append(w.dialogs, ev.Message)
			w.mu.Unlock()
			// An error here means the dialog is gone already.
			_, _ = chromedp.Call(c.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			w.mu.Lock()
			w.errors = append(w.errors, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
			w.mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
				continue
			}
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			w.mu.Lock()
			w.errors = append(w.errors, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *pageWatch) seen() (dialogs, errors []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.dialogs), slices.Clone(w.errors)
}

// submit clicks a button (CSS selector) that sends a form and waits for
// the page it leads to; it returns the HTTP status of that page.
func (c *chrome) submit(what, css string) int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css)))
	if err != nil {
		c.fatalf("%s (click %s): %v", what, css, err)
	}
	return resp.Status
}

// open navigates to u and returns the document's HTTP status.
func (c *chrome) open(u string) int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		c.fatalf("open %s: %v", u, err)
	}
	return resp.Status
}

// text is the visible text of the first element matching css.
func (c *chrome) text(css string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		c.fatalf("read %s: %v", css, err)
	}
	return s
}

func (c *chrome) eval(js string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		c.fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// doT is do with a step deadline, so one stuck step fails fast instead of
// using up the whole test's time.
func (c *chrome) doT(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript condition across navigations (a script that
// navigates itself, as the add-passkey form does).
func (c *chrome) waitFor(what, js string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			c.fatalf("waiting for %s: %s stayed false (%v)", what, js, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fill replaces the value of a text field or textarea by typing.
func (c *chrome) fill(id, value string) {
	c.t.Helper()
	c.doT("fill #"+id,
		chromedp.WaitVisible(chromedp.ID(id)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ""`, id)),
		chromedp.SendKeys(chromedp.ID(id), value),
	)
}

// expectText fails unless the element's text contains want.
func (c *chrome) expectText(css, want string) string {
	c.t.Helper()
	got := c.text(css)
	if !strings.Contains(got, want) {
		c.fatalf("%s says %q, want it to contain %q", css, got, want)
	}
	return got
}

// signInOn drives a passkey sign-in page at path on the issuer (autofill
// may finish by itself; else the button is pressed once) until done.
func (c *chrome) signInOn(issuer, path string, done func(pageState) bool) {
	c.t.Helper()
	clicked := false
	var s pageState
	for {
		if err := c.ctx.Err(); err != nil {
			c.fatalf("sign-in did not complete (last page %s, status %q): %v", s.Href, s.Status, err)
		}
		var err error
		if s, err = c.state(); err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if done(s) {
			return
		}
		if u, ok := sameOrigin(s.Href, issuer); ok && u.Path == path {
			if strings.Contains(s.StatusKind, "error") {
				c.fatalf("sign-in page reports an error: %q", s.Status)
			}
			if !clicked && s.Ready == "complete" && s.Button {
				_ = chromedp.Do(c.ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("passkey-signin")?.click()`))
				clicked = true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// attackerPage serves, on host (localhost: same site, other port;
// 127.0.0.1: another site), a page whose button posts a form to action.
func attackerPage(t *testing.T, host, action string) string {
	t.Helper()
	ln, _ := listenLoopback(t)
	serveOn(t, ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Win a prize</title><form method="post" action="%s"><input type="hidden" name="_csrf" value="guess"><button id="go" type="submit">Claim</button></form>`, action)
	}))
	return fmt.Sprintf("http://%s:%d/", host, ln.Addr().(*net.TCPAddr).Port)
}

// TestBrowserAdminConsolePages clicks through every console page and its
// form errors: groups, applications, signing keys, API tokens, a user's
// profile, sessions, connected applications and disabling, the audit log
// filter, and the CSRF refusal page.
func TestBrowserAdminConsolePages(t *testing.T) {
	exe := findChromium(t)
	app := newAdminApp(t, withRegistration(oidc.RegistrationToken))
	ctx := context.Background()
	shots := artifactDir(t)
	_, adminLink := app.newUser("root", true)

	// carol (an HTTP client with a software passkey) has a session and has
	// signed in to the "Team Wiki" application.
	carol, carolLink := app.newUser("carol", false)
	cb := app.newBrowser()
	cb.register(carolLink)
	const wikiRedirect = "https://wiki.example.com/cb"
	wiki, wikiSecret := app.newClient(wikiRedirect, func(c *models.Client) { c.Name = "Team Wiki" })
	wikiRP := app.newRP(wiki.ID, wikiSecret, wikiRedirect)
	grant := wikiRP.signInGrant(cb)

	c := newChrome(t, exe, true)
	w := c.watch()
	c.setUpPasskey(adminLink, "Admin laptop")
	c.doT("open the console", chromedp.Navigate(app.adminURL+"/admin"))
	c.passkeySignInUntil(app.issuer, func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.adminURL)
		return ok && u.Path == "/admin" && strings.Contains(s.Text, "Sign-ins per day")
	})
	shot := func(c *chrome, name string) { c.screenshot(shots, "admin-"+name) }

	t.Run("groups", func(t *testing.T) {
		c := c.in(t)
		c.open(app.adminURL + "/admin/groups")
		c.fill("group-name", "staff")
		if st := c.submit("create a group", "#create-group"); st != http.StatusOK {
			c.fatalf("create group: status %d", st)
		}
		c.expectText("h1", "Group staff")
		c.expectText(".notice.ok", "The group was created.")
		// Rename.
		c.fill("group-name", "ops")
		c.submit("rename the group", `form[action^="/admin/groups/"] button[type=submit]`)
		c.expectText("h1", "Group ops")
		c.expectText(".notice.ok", "The group was saved.")
		// Add a member: an unknown username is a form error, then carol.
		c.fill("member", "nobody")
		if st := c.submit("add an unknown member", "#add-member"); st != http.StatusBadRequest {
			c.fatalf("unknown member: status %d, want 400", st)
		}
		c.expectText("#form-error", "There is no user with that username.")
		shot(c, "group-member-error")
		c.fill("member", "carol")
		c.submit("add carol", "#add-member")
		c.expectText(".notice.ok", "The member was added.")
		c.expectText("ul.items", "carol")
		shot(c, "group")
		if u, _ := app.db.UserByID(ctx, carol.ID); !slices.Contains(u.GroupNames(), "ops") {
			c.fatalf("carol's groups = %v, want ops", u.GroupNames())
		}
		// Form errors on the list page: a duplicate and a blank name.
		c.open(app.adminURL + "/admin/groups")
		c.fill("group-name", "ops")
		if st := c.submit("create a duplicate group", "#create-group"); st != http.StatusBadRequest {
			c.fatalf("duplicate group: status %d, want 400", st)
		}
		c.expectText("#form-error", "exists")
		shot(c, "groups-form-error")
		c.fill("group-name", "   ")
		if st := c.submit("create a blank group", "#create-group"); st != http.StatusBadRequest {
			c.fatalf("blank group name: status %d, want 400", st)
		}
		c.expectText("#form-error", "1 to 64 characters")
		c.expectText("table", "ops")
	})

	// The user form's group picker: typing asks the server for the groups
	// that start with the text after the last comma (admin.js), and a
	// chosen suggestion saves (issue 18: no list of every group).
	t.Run("group picker", func(t *testing.T) {
		c := c.in(t)
		for _, n := range []string{"observers", "obsidian", "other"} {
			if _, err := app.db.CreateGroup(ctx, n); err != nil {
				c.fatalf("group %s: %v", n, err)
			}
		}
		c.open(app.adminURL + "/admin/users/" + carol.ID)
		c.fill("add-groups", "OBS")
		c.waitFor("suggestions for OBS", `document.querySelectorAll("#group-options option").length === 2`)
		if got := c.eval(`[...document.querySelectorAll("#group-options option")].map(o => o.value).join("|")`); got != "observers|obsidian" {
			c.fatalf("suggestions for OBS = %q", got)
		}
		c.fill("add-groups", "observers, ot")
		c.waitFor("suggestions after a comma", `[...document.querySelectorAll("#group-options option")].map(o => o.value).join("|") === "observers, other"`)
		c.fill("add-groups", "observers, other")
		c.submit("save carol with two more groups", "#save-user")
		c.expectText(".notice.ok", "saved")
		if u, _ := app.db.UserByID(ctx, carol.ID); !slices.Contains(u.GroupNames(), "observers") || !slices.Contains(u.GroupNames(), "other") {
			c.fatalf("carol's groups = %v", u.GroupNames())
		}
	})

	t.Run("applications", func(t *testing.T) {
		c := c.in(t)
		c.open(app.adminURL + "/admin/clients")
		c.submit("open Team Wiki", `a[href="/admin/clients/`+wiki.ID+`"]`)
		c.expectText("#client-id", wiki.ID)
		shot(c, "client")
		c.fill("redirect-uris", "https://wiki.example.com/cb\nnot a url")
		if st := c.submit("save an invalid redirect URI", "#save-client"); st != http.StatusBadRequest {
			c.fatalf("invalid redirect URI: status %d, want 400", st)
		}
		c.expectText("#form-error", `"not a url" is not a usable redirect URI`)
		shot(c, "client-form-error")
		if cl, _ := app.db.ClientByID(ctx, wiki.ID); len(cl.RedirectURIs) != 1 {
			c.fatalf("invalid redirect URIs were saved: %v", cl.RedirectURIs)
		}
		// A valid edit is saved.
		c.fill("redirect-uris", "https://wiki.example.com/cb\nhttps://wiki.example.com/cb2")
		c.submit("save redirect URIs", "#save-client")
		c.expectText(".notice.ok", "The application was saved.")
		if cl, _ := app.db.ClientByID(ctx, wiki.ID); len(cl.RedirectURIs) != 2 {
			c.fatalf("redirect URIs after save: %v", cl.RedirectURIs)
		}
		// Rotate the secret (data-confirm asks first): shown once.
		c.submit("rotate the secret", "#rotate-secret")
		secret := c.value("client-secret")
		cl, _ := app.db.ClientByID(ctx, wiki.ID)
		if secret == "" || secret == wikiSecret || !bytes.Equal(models.HashToken(secret), cl.SecretHash) {
			c.fatalf("rotated secret %q does not match the stored hash", secret)
		}
		if !strings.Contains(c.value("snippet"), "OIDC_CLIENT_SECRET="+secret) {
			c.fatalf("configuration snippet lacks the new secret")
		}
		wikiSecret = secret // for the introspection checks below
		shot(c, "client-secret-rotated")
		c.open(app.adminURL + "/admin/clients/" + wiki.ID)
		if html := c.eval(`document.documentElement.outerHTML`); strings.Contains(html, secret) {
			c.fatalf("the secret is shown again on the application page")
		}
		if d, _ := w.seen(); !slices.ContainsFunc(d, func(m string) bool { return strings.Contains(m, "Rotate the secret?") }) {
			c.fatalf("rotating the secret did not ask for confirmation (dialogs %q)", d)
		}
	})

	t.Run("keys", func(t *testing.T) {
		c := c.in(t)
		const kidsJS = `Array.from(document.querySelectorAll("table tbody td:first-child code")).map(e => e.textContent).join(" ")`
		c.open(app.adminURL + "/admin/keys")
		before := strings.Fields(c.eval(kidsJS))
		if len(before) == 0 {
			c.fatalf("no signing keys listed")
		}
		c.submit("rotate now", "#rotate-keys")
		c.expectText(".notice.ok", "New signing keys were created")
		after := strings.Fields(c.eval(kidsJS))
		var added []string
		for _, k := range after {
			if !slices.Contains(before, k) {
				added = append(added, k)
			}
		}
		if len(added) == 0 {
			c.fatalf("no new kid after rotation: before %v, after %v", before, after)
		}
		shot(c, "keys-rotated")
		evs, _, _ := app.db.QueryAudit(ctx, models.AuditQuery{Type: models.EventKeyRotated})
		if len(evs) == 0 || evs[0].ActorID == "" {
			c.fatalf("manual rotation not audited with its actor: %+v", evs)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		c := c.in(t)
		c.open(app.adminURL + "/admin/tokens")
		c.expectText(".empty", "No API tokens yet.")
		c.fill("token-name", "ci")
		c.fill("token-days", "30")
		if st := c.submit("create a token", "#create-token"); st != http.StatusCreated {
			c.fatalf("create token: status %d, want 201", st)
		}
		raw := c.value("new-token")
		shot(c, "token-created")
		api := func() int {
			req, _ := http.NewRequest(http.MethodGet, app.adminURL+"/api/v1/users", nil)
			req.Header.Set("Authorization", "Bearer "+raw)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			return resp.StatusCode
		}
		if st := api(); st != http.StatusOK {
			c.fatalf("API with the new token: %d", st)
		}
		c.open(app.adminURL + "/admin/tokens")
		if html := c.eval(`document.documentElement.outerHTML`); strings.Contains(html, raw) {
			c.fatalf("the API token is shown again")
		}
		c.expectText("table", "active")
		c.submit("revoke the token", `form[action$="/revoke"] button`)
		c.expectText(".notice.ok", "The API token was revoked.")
		c.expectText("table", "revoked")
		if st := api(); st != http.StatusUnauthorized {
			c.fatalf("API with a revoked token: %d, want 401", st)
		}
	})

	t.Run("scim tokens", func(t *testing.T) {
		c := c.in(t)
		c.open(app.adminURL + "/admin/scim-tokens")
		c.expectText(".empty", "No SCIM tokens yet.")
		c.expectText("#scim-base", app.issuer+"/scim/v2")
		c.fill("scim-token-name", "Entra ID")
		if st := c.submit("create a SCIM token", "#create-scim-token"); st != http.StatusCreated {
			c.fatalf("create SCIM token: status %d, want 201", st)
		}
		raw := c.value("new-token")
		shot(c, "scim-token-created")
		c.fill("scim-token-name", "Entra ID")
		if st := c.submit("create a second token of that name", "#create-scim-token"); st != http.StatusBadRequest {
			c.fatalf("duplicate SCIM token name: status %d, want 400", st)
		}
		c.expectText("#form-error", "exists")
		scimGet := func() int {
			req, _ := http.NewRequest(http.MethodGet, app.issuer+"/scim/v2/Users", nil)
			req.Header.Set("Authorization", "Bearer "+raw)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			return resp.StatusCode
		}
		if st := scimGet(); st != http.StatusOK {
			c.fatalf("SCIM with the new token: %d", st)
		}
		c.open(app.adminURL + "/admin/scim-tokens")
		if html := c.eval(`document.documentElement.outerHTML`); strings.Contains(html, raw) {
			c.fatalf("the SCIM token is shown again")
		}
		c.expectText("table", "active")
		c.submit("revoke the SCIM token", `form[action$="/revoke"] button`)
		c.expectText(".notice.ok", "The SCIM token was revoked")
		c.expectText("table", "revoked")
		if st := scimGet(); st != http.StatusUnauthorized {
			c.fatalf("SCIM with a revoked token: %d, want 401", st)
		}
	})

	t.Run("registration tokens", func(t *testing.T) {
		c := c.in(t)
		c.open(app.adminURL + "/admin/registration-tokens")
		c.expectText(".empty", "No initial access tokens yet.")
		c.expectText("#registration-endpoint", app.issuer+"/oauth/register")
		c.expectText("#registration-mode", "needs one of these tokens")
		c.fill("registration-token-name", "Agent platform")
		if st := c.submit("create an initial access token", "#create-registration-token"); st != http.StatusCreated {
			c.fatalf("create registration token: status %d, want 201", st)
		}
		raw := c.value("new-token")
		shot(c, "registration-token-created")
		reg := app.register(map[string]any{"redirect_uris": []string{"https://agent.example/cb"}, "client_name": "Helpful Agent"}, raw)
		if reg.status != http.StatusCreated {
			c.fatalf("register with the new token: %d %v", reg.status, reg.body)
		}
		c.open(app.adminURL + "/admin/clients")
		c.expectText("table", "self-registered")
		c.open(app.adminURL + "/admin/clients/" + reg.str("client_id"))
		c.expectText("#self-registered", "self-registered")
		shot(c, "client-self-registered")
		c.open(app.adminURL + "/admin/registration-tokens")
		if html := c.eval(`document.documentElement.outerHTML`); strings.Contains(html, raw) {
			c.fatalf("the initial access token is shown again")
		}
		c.expectText("table", "active")
		c.submit("revoke the initial access token", `form[action$="/revoke"] button`)
		c.expectText(".notice.ok", "The initial access token was revoked")
		c.expectText("table", "revoked")
		wantRefused(t, app.register(map[string]any{"redirect_uris": []string{"https://agent.example/cb"}}, raw), http.StatusUnauthorized, "invalid_token")
	})

	t.Run("user", func(t *testing.T) {
		c := c.in(t)
		c.open(app.adminURL + "/admin/users?q=car")
		c.submit("open carol", `a[href="/admin/users/`+carol.ID+`"]`)
		c.expectText("h1", "carol")
		c.expectText("#user-apps", "Team Wiki")
		shot(c, "user")
		// A taken username is a form error; nothing is saved.
		c.fill("username", "root")
		if st := c.submit("save a taken username", "#save-user"); st != http.StatusBadRequest {
			c.fatalf("taken username: status %d, want 400", st)
		}
		c.expectText("#form-error", "taken")
		shot(c, "user-form-error")
		if u, _ := app.db.UserByID(ctx, carol.ID); u.Username != "carol" {
			c.fatalf("username changed to %q", u.Username)
		}
		// A valid edit.
		c.fill("username", "carol")
		c.fill("display_name", "Carol C.")
		if st := c.submit("save", "#save-user"); st != http.StatusOK {
			c.fatalf("save user: status %d", st)
		}
		c.expectText(".notice.ok", "The user was saved.")
		// Revoke the application's tokens (confirm), then end the session.
		c.submit("revoke Team Wiki's tokens", `#user-apps form[action$="/apps/`+wiki.ID+`/revoke"] button`)
		c.expectText(".notice.ok", "tokens for this user were revoked")
		if apps, _ := app.db.ConnectedApps(ctx, carol.ID); len(apps) != 0 {
			c.fatalf("connected apps after revocation: %+v", apps)
		}
		sub := *app.testApp // helpers that fail must fail this subtest
		sub.t = t
		if active := sub.introspect(wiki.ID, wikiSecret, grant.tok.AccessToken); active {
			c.fatalf("carol's access token is still active after the admin revoked it")
		}
		c.submit("end carol's session", `form[action*="/sessions/"][action$="/end"] button`)
		c.expectText(".notice.ok", "The session was ended.")
		if ss, _ := app.db.SessionsByUser(ctx, carol.ID); len(ss) != 0 {
			c.fatalf("carol still has %d sessions", len(ss))
		}
		// Disable.
		c.submit("disable carol", "#disable-user")
		c.expectText(".notice.ok", "The user was disabled")
		c.expectText("h1", "disabled")
		shot(c, "user-disabled")
		if u, _ := app.db.UserByID(ctx, carol.ID); !u.Disabled {
			c.fatalf("carol is not disabled")
		}
	})

	t.Run("audit", func(t *testing.T) {
		c := c.in(t)
		c.open(app.adminURL + "/admin/audit")
		c.fill("f-user", "carol")
		c.doT("choose the event type", chromedp.Evaluate[chromedp.Void](`document.getElementById("f-type").value = "`+models.EventAppTokensRevoked+`"`))
		c.submit("filter", "#filter")
		rows := c.eval(`Array.from(document.querySelectorAll("#audit tbody tr")).map(r => r.cells[1].textContent + "|" + r.cells[3].textContent + "|" + r.cells[4].textContent + "|" + r.cells[5].textContent).join("\n")`)
		lines := strings.Split(rows, "\n")
		if rows == "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "app_tokens_revoked|carol|root|Team Wiki "+wiki.ID) {
			c.fatalf("filtered audit rows = %q", rows)
		}
		if v := c.value("f-user"); v != "carol" {
			c.fatalf("filter form forgot the user: %q", v)
		}
		shot(c, "audit-filtered")
		c.doT("choose another type", chromedp.Evaluate[chromedp.Void](`document.getElementById("f-type").value = "`+models.EventKeyRotated+`"`))
		c.submit("filter", "#filter")
		c.expectText(".empty", "No events match this filter.")
		// A malformed date is a clear error, not a crash.
		if st := c.open(app.adminURL + "/admin/audit?since=yesterday"); st != http.StatusBadRequest {
			c.fatalf("bad date: status %d, want 400", st)
		}
		c.expectText("main", "YYYY-MM-DD")
	})

	t.Run("csrf", func(t *testing.T) {
		c := c.in(t)
		rotations := func() int {
			evs, _, _ := app.db.QueryAudit(ctx, models.AuditQuery{Type: models.EventKeyRotated, Limit: 100})
			return len(evs)
		}
		n := rotations()
		// Another port on the same host is the same site: the session
		// cookie goes along, so only the CSRF check stops the post.
		for _, host := range []string{"localhost", "127.0.0.1"} {
			c.open(attackerPage(t, host, app.adminURL+"/admin/keys/rotate"))
			if st := c.submit("post from "+host, "#go"); st != http.StatusForbidden {
				c.fatalf("forged post from %s: status %d, want 403", host, st)
			}
			c.expectText("main", "CSRF protection")
			shot(c, "csrf-refused-"+strings.ReplaceAll(host, ".", "-"))
		}
		if rotations() != n {
			c.fatalf("a forged post rotated the keys")
		}
	})

	if _, errs := w.seen(); len(errs) > 0 {
		t.Errorf("JavaScript errors on the console pages:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("screenshots in %s", shots)
}

// TestBrowserAccountPage: a user signs in on /account with a passkey, is
// refused by the admin console with a 403 page, signs in to an
// application, adds a second passkey, renames and deletes one (the Signals
// API call must not break the page), cannot delete the last one, ends a
// session and revokes the application.
func TestBrowserAccountPage(t *testing.T) {
	exe := findChromium(t)
	app := newAdminApp(t)
	ctx := context.Background()
	shots := artifactDir(t)
	user, link := app.newUser("dana", false)

	// An application with a real callback listener in this process.
	callbacks := make(chan string, 4)
	redirect := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" {
			select { // never block: the server's Close waits for handlers
			case callbacks <- "http://" + r.Host + r.URL.String():
			default:
			}
		}
		fmt.Fprint(w, "<!doctype html><title>Photos</title><p id=signed-in>Signed in to Photos</p>")
	})) + "/callback"
	photos, photosSecret := app.newClient(redirect, func(c *models.Client) { c.Name = "Photos" })

	c := newChrome(t, exe, true)
	w := c.watch()
	// Without autofill the account page's sign-in button runs the ceremony.
	if _, err := chromedp.Call(c.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noAutofillJS}); err != nil {
		t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	c.setUpPasskey(link, "Laptop")
	atAccount := func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.issuer)
		return ok && u.Path == "/account" && strings.Contains(s.Text, "Signed in as")
	}

	t.Run("sign in", func(t *testing.T) {
		c := c.in(t)
		c.open(app.issuer + "/account")
		c.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
		c.screenshot(shots, "account-01-signin")
		c.signInOn(app.issuer, "/account", atAccount)
		c.expectText("#account-user", "dana")
		c.expectText("#passkeys", "Laptop")
		c.screenshot(shots, "account-02-page")
	})

	t.Run("admin console refuses a non-admin", func(t *testing.T) {
		c := c.in(t)
		c.open(app.adminURL + "/admin")
		c.signInOn(app.issuer, "/login", func(s pageState) bool { return strings.Contains(s.Text, "Not an administrator") })
		c.doT("wait for the page", chromedp.WaitReady(chromedp.CSS("footer")))
		if st := c.eval(`String(performance.getEntriesByType("navigation")[0].responseStatus)`); st != "403" {
			c.fatalf("non-admin console page: status %s, want 403", st)
		}
		c.expectText("main", "does not have the admin role")
		c.screenshot(shots, "admin-403-not-admin")
		if apps, _ := app.db.ConnectedApps(ctx, user.ID); len(apps) != 0 {
			c.fatalf("the refused console kept tokens: %+v", apps)
		}
	})

	t.Run("sign in to an application", func(t *testing.T) {
		c := c.in(t)
		r := app.newRP(photos.ID, photosSecret, redirect)
		authURL, f := r.authURL()
		c.open(authURL)
		var cbURL string
		select {
		case cbURL = <-callbacks:
		case <-time.After(15 * time.Second):
			c.fatalf("the application's callback was not reached")
		}
		u, err := url.Parse(cbURL)
		if err != nil {
			t.Fatal(err)
		}
		r.exchange(u, f)
		c.open(app.issuer + "/account")
		c.expectText("#apps", "Photos")
	})

	var laptop, backup *webauthn.Credential
	t.Run("add a second passkey", func(t *testing.T) {
		c := c.in(t)
		creds := c.credentials()
		if len(creds) != 1 {
			c.fatalf("virtual authenticator holds %d credentials, want 1", len(creds))
		}
		laptop = creds[0]
		// The server excludes the passkeys the account has, so this
		// authenticator cannot make a second one while it holds the first:
		// take it out, so the tab stands for a second device. (Putting it
		// back with WebAuthn.addCredential fails in this Chromium; nothing
		// below signs in again.)
		if _, err := chromedp.Call(c.ctx, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: c.authID, CredentialID: laptop.CredentialID}); err != nil {
			c.fatalf("WebAuthn.removeCredential: %v", err)
		}
		c.fill("new-passkey-name", "Backup key")
		c.doT("add a passkey", chromedp.Click(chromedp.ID("add-passkey")))
		c.waitFor("the new passkey", `location.search.includes("done=passkey-added") && document.readyState === "complete"`)
		c.expectText(".notice.ok", "Your new passkey is ready.")
		c.expectText("#passkeys", "Backup key")
		creds = c.credentials()
		if len(creds) != 1 {
			c.fatalf("virtual authenticator holds %d credentials after adding, want 1", len(creds))
		}
		backup = creds[0]
		if stored, _ := app.db.CredentialsByUser(ctx, user.ID); len(stored) != 2 {
			c.fatalf("dana has %d stored passkeys, want 2", len(stored))
		}
		c.screenshot(shots, "account-03-two-passkeys")
	})

	t.Run("rename a passkey", func(t *testing.T) {
		c := c.in(t)
		stored, _ := app.db.CredentialsByUser(ctx, user.ID)
		var id string
		for _, s := range stored {
			if s.Name == "Backup key" {
				id = s.ID
			}
		}
		c.doT("open the passkey forms", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#passkeys details").forEach(d => d.open = true)`))
		c.fill("rename-"+id, "   ")
		if st := c.submit("rename to blanks", `form[action="/account/passkeys/`+id+`/rename"] button`); st != http.StatusBadRequest {
			c.fatalf("blank passkey name: status %d, want 400", st)
		}
		c.expectText("#form-error", "1 to 64 characters")
		c.screenshot(shots, "account-04-rename-error")
		c.doT("open the passkey forms", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#passkeys details").forEach(d => d.open = true)`))
		c.fill("rename-"+id, "YubiKey")
		c.submit("rename", `form[action="/account/passkeys/`+id+`/rename"] button`)
		c.expectText(".notice.ok", "The passkey was renamed.")
		c.expectText("#passkeys", "YubiKey")
	})

	t.Run("delete a passkey", func(t *testing.T) {
		c := c.in(t)
		stored, _ := app.db.CredentialsByUser(ctx, user.ID)
		var id string
		for _, s := range stored {
			if s.Name == "YubiKey" {
				id = s.ID
			}
		}
		c.doT("open the passkey forms", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#passkeys details").forEach(d => d.open = true)`))
		c.submit("delete YubiKey", `form[action="/account/passkeys/`+id+`/delete"] button`)
		c.expectText(".notice.ok", "The passkey was deleted.")
		if got := c.eval(`document.getElementById("signals").dataset.removed`); got != b64url(backup.CredentialID) {
			c.fatalf("signals data-removed = %q, want the deleted credential", got)
		}
		// The page keeps working after the Signals API calls: still signed
		// in, the add form is live.
		c.expectText("#account-user", "dana")
		c.doT("the add button is usable", chromedp.WaitEnabled(chromedp.ID("add-passkey")))
		// Chromium passes signalUnknownCredential to the authenticator,
		// which drops the deleted passkey (a password manager would too).
		if c.eval(`String(typeof PublicKeyCredential.signalUnknownCredential === "function")`) == "true" {
			for deadline := time.Now().Add(5 * time.Second); len(c.credentials()) != 0; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					c.fatalf("the virtual authenticator still holds the deleted passkey after signalUnknownCredential")
				}
			}
		} else {
			t.Logf("this Chromium has no WebAuthn Signals API; the signal was skipped")
		}
		c.screenshot(shots, "account-05-deleted")
	})

	t.Run("the last passkey cannot be deleted", func(t *testing.T) {
		c := c.in(t)
		c.doT("open the passkey forms", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#passkeys details").forEach(d => d.open = true)`))
		c.expectText("#passkeys", "Your only passkey cannot be deleted.")
		// The button is hidden for the last passkey; post the form anyway,
		// as a stale tab would.
		stored, _ := app.db.CredentialsByUser(ctx, user.ID)
		if len(stored) != 1 {
			c.fatalf("dana has %d passkeys, want 1", len(stored))
		}
		c.doT("add a stale delete form", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
  const f = document.createElement("form");
  f.method = "post"; f.action = "/account/passkeys/%s/delete";
  const b = document.createElement("button"); b.id = "stale-delete"; b.type = "submit"; b.textContent = "Delete";
  f.append(b); document.getElementById("main").append(f);
})()`, stored[0].ID)))
		if st := c.submit("delete the last passkey", "#stale-delete"); st != http.StatusConflict {
			c.fatalf("deleting the last passkey: status %d, want 409", st)
		}
		c.expectText("#form-error", "This is your only passkey, so it cannot be deleted")
		c.screenshot(shots, "account-06-last-passkey")
		if stored, _ := app.db.CredentialsByUser(ctx, user.ID); len(stored) != 1 {
			c.fatalf("the last passkey was deleted")
		}
	})

	t.Run("revoke an application", func(t *testing.T) {
		c := c.in(t)
		c.open(app.issuer + "/account")
		c.submit("revoke Photos", `form[action="/account/apps/`+photos.ID+`/revoke"] button`)
		c.expectText(".notice.ok", "The application's access was revoked")
		if apps, _ := app.db.ConnectedApps(ctx, user.ID); len(apps) != 0 {
			c.fatalf("connected apps after revocation: %+v", apps)
		}
		c.expectText("main", "No application holds a token for you.")
	})

	t.Run("end a session", func(t *testing.T) {
		c := c.in(t)
		// A second session of dana, on another device.
		other := &models.Session{UserID: user.ID, AuthTime: time.Now(), AMR: models.StringList{"hwk"},
			UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1", IP: "192.0.2.7"}
		if _, err := app.db.CreateSession(ctx, other, time.Hour); err != nil {
			t.Fatal(err)
		}
		sid := other.ID
		c.open(app.issuer + "/account")
		c.submit("end the other session", `form[action="/account/sessions/`+sid+`/end"] button`)
		c.expectText(".notice.ok", "The session was ended.")
		if s, _ := app.db.SessionByID(ctx, sid); s.EndedAt == nil {
			c.fatalf("the other session was not ended")
		}
		// Signing out this browser leads back to the sign-in page.
		c.submit("sign out everywhere", "#end-all")
		c.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
		if ss, _ := app.db.SessionsByUser(ctx, user.ID); len(ss) != 0 {
			c.fatalf("%d sessions left after signing out everywhere", len(ss))
		}
	})

	if _, errs := w.seen(); len(errs) > 0 {
		t.Errorf("JavaScript errors on the account pages:\n%s", strings.Join(errs, "\n"))
	}
}
