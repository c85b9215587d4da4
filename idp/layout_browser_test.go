package idp

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// axeSource is axe-core (testdata/axe/README.md), run in the page.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// layoutWidths are the viewport widths every page must fit: a phone
// (390 px, an iPhone 12 to 15) and a laptop.
var layoutWidths = []int64{390, 1280}

// axeFinding is one axe violation of impact serious or critical.
type axeFinding struct {
	ID, Impact, Help string
	Targets          []string
}

// checkPage loads u at each width and fails the test when the document
// scrolls sideways or axe finds a serious or critical violation; it
// saves a screenshot per width.
func (c *chrome) checkPage(shots, name, u string) {
	c.t.Helper()
	for _, w := range layoutWidths {
		c.do(fmt.Sprintf("open %s at %d px", name, w),
			chromedp.EmulateViewport(w, 900),
			chromedp.Navigate(u),
			chromedp.WaitReady(chromedp.CSS("body")),
		)
		// Sideways scrolling: the document is wider than the viewport.
		over, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`(() => {
			const d = document.documentElement, w = d.clientWidth;
			if (d.scrollWidth <= w) return "";
			const wide = [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > w + 1)
				.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).split(" ").join(".") : ""));
			return d.scrollWidth + " px wide in " + w + " px; overflowing: " + wide.join(", ");
		})()`))
		if err != nil {
			c.fatalf("%s at %d px: measure: %v", name, w, err)
		}
		c.screenshot(shots, fmt.Sprintf("layout-%s-%d", name, w))
		if over != "" {
			c.t.Errorf("%s at %d px scrolls sideways: %s", name, w, over)
		}
		// Every form field is styled by app.css: text-like fields and
		// menus have its rounded border, file pickers its font, check
		// boxes and radio buttons its accent colour (the browser's
		// defaults have none of these).
		unstyled, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]string](`(() => {
			const bodyFont = getComputedStyle(document.body).fontSize;
			return [...document.querySelectorAll("input, select, textarea")].filter(e => e.type !== "hidden" && e.getClientRects().length > 0).filter(e => {
				const cs = getComputedStyle(e);
				switch (e.type) {
				case "checkbox": case "radio": return cs.accentColor === "auto";
				case "file": return cs.fontSize !== bodyFont || getComputedStyle(e, "::file-selector-button").borderTopLeftRadius === "0px";
				case "submit": case "button": case "reset": case "image": return false;
				default: return cs.borderTopLeftRadius === "0px" || cs.borderTopStyle !== "solid";
				}
			}).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.name ? "[name=" + e.name + "]" : "") + "[type=" + e.type + "]");
		})()`))
		if err != nil {
			c.fatalf("%s at %d px: fields: %v", name, w, err)
		}
		for _, f := range unstyled {
			c.t.Errorf("%s at %d px: the field %s is not styled", name, w, f)
		}
		findings, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]axeFinding](axeSource+`;
			axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
				.filter(v => v.impact === "serious" || v.impact === "critical")
				.map(v => ({ID: v.id, Impact: v.impact, Help: v.help, Targets: v.nodes.slice(0, 5).map(n => n.target.join(" "))})))`,
			chromedp.EvalAwaitPromise))
		if err != nil {
			c.fatalf("%s at %d px: axe: %v", name, w, err)
		}
		for _, f := range findings {
			c.t.Errorf("%s at %d px: axe %s (%s): %s, on %s", name, w, f.ID, f.Impact, f.Help, strings.Join(f.Targets, "; "))
		}
	}
}

// checkChartLabels loads the console's overview at each width and fails
// the test when a label of the sign-ins chart overlaps another label or a
// bar, leaves the chart, or is too small to read (issue 19: "chart labels
// never overlap").
func (c *chrome) checkChartLabels(u string) {
	c.t.Helper()
	for _, w := range layoutWidths {
		c.do(fmt.Sprintf("open the overview at %d px", w),
			chromedp.EmulateViewport(w, 900),
			chromedp.Navigate(u),
			chromedp.WaitReady(chromedp.CSS("svg.chart")),
		)
		problems, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]string](`(() => {
			const svg = document.querySelector("svg.chart"), box = svg.getBoundingClientRect();
			const labels = [...svg.querySelectorAll("text.label")].map(t => ({t: t.textContent, r: t.getBoundingClientRect()}));
			const bars = [...svg.querySelectorAll("rect.bar")].map(r => r.getBoundingClientRect()).filter(r => r.height > 0.5);
			const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
			const out = [];
			if (labels.length < 7) out.push("only " + labels.length + " labels: " + labels.map(l => l.t).join(", "));
			const n = svg.querySelectorAll("rect.bar").length;
			if (n !== 30) out.push(n + " bars, want 30");
			labels.forEach((a, i) => {
				if (a.r.left < box.left - 0.5 || a.r.right > box.right + 0.5 || a.r.top < box.top - 0.5 || a.r.bottom > box.bottom + 0.5) out.push(a.t + " leaves the chart");
				labels.slice(i + 1).forEach(b => { if (hit(a.r, b.r)) out.push(a.t + " overlaps " + b.t); });
				if (bars.some(b => hit(a.r, b))) out.push(a.t + " overlaps a bar");
				// Readable: the label's line box is at least 10 px high on screen.
				if (a.r.height < 10) out.push(a.t + " is " + a.r.height.toFixed(1) + " px high, too small to read");
			});
			return out;
		})()`))
		if err != nil {
			c.fatalf("chart labels at %d px: %v", w, err)
		}
		for _, p := range problems {
			c.t.Errorf("the overview's chart at %d px: %s", w, p)
		}
	}
}

// checkAuditPaging opens the audit log (thousands of events) at each
// width: 50 events a page, and the pager's links are on screen and lead
// to the next 50 and back (issue 19: "the audit log pages (50 a page) on
// every screen size").
func (c *chrome) checkAuditPaging(u string) {
	c.t.Helper()
	type pageInfo struct {
		Rows        int
		Older       string
		Newer       bool
		OnScreen    bool
		FirstRowKey string
	}
	measure := func() pageInfo {
		c.t.Helper()
		info, err := chromedp.Run(c.ctx, chromedp.Evaluate[pageInfo](`(() => {
			const older = document.querySelector("nav.pager a[rel=next]"), newer = document.querySelector("nav.pager a[rel=prev]");
			const w = document.documentElement.clientWidth;
			const seen = [older, newer].filter(a => a).every(a => { const r = a.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= w; });
			const first = document.querySelector("#audit tbody tr");
			return {Rows: document.querySelectorAll("#audit tbody tr").length, Older: older ? older.href : "", Newer: !!newer, OnScreen: seen,
				FirstRowKey: first ? first.textContent : ""};
		})()`))
		if err != nil {
			c.fatalf("audit page: %v", err)
		}
		return info
	}
	for _, w := range layoutWidths {
		c.do(fmt.Sprintf("open the audit log at %d px", w), chromedp.EmulateViewport(w, 900), chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("#audit")))
		first := measure()
		if first.Rows != 50 || first.Older == "" || first.Newer || !first.OnScreen {
			c.t.Errorf("audit log at %d px, first page: %+v, want 50 rows and an on-screen link to older events only", w, first)
			continue
		}
		c.do(fmt.Sprintf("older events at %d px", w), chromedp.Navigate(first.Older), chromedp.WaitReady(chromedp.CSS("#audit")))
		second := measure()
		if second.Rows != 50 || second.Older == "" || !second.Newer || !second.OnScreen || second.FirstRowKey == first.FirstRowKey {
			c.t.Errorf("audit log at %d px, second page: %+v, want 50 other rows and on-screen links both ways", w, second)
		}
	}
}

// TestBrowserLayoutAndAccessibility opens every console page, the account
// page and the public pages at 390 and 1280 px: none scrolls sideways,
// axe finds no serious or critical problem, and a screenshot of each is
// kept (issue 19).
func TestBrowserLayoutAndAccessibility(t *testing.T) {
	exe := findChromium(t)
	app := newAdminApp(t)
	ctx := context.Background()
	shots := artifactDir(t)
	_, adminLink := app.newUser("root", true)
	user, userLink := app.newUser("browser-alice", false)
	_, pendingLink := app.newUser("pending-bob", false)
	group, err := app.db.CreateGroup(ctx, "engineering")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.db.AddGroupMember(ctx, group.ID, user.ID); err != nil {
		t.Fatal(err)
	}
	client, _ := app.newClient("https://app.example.com/callback", func(c *models.Client) {
		c.Name = "Expense reports with a rather long application name"
	})
	// A refused sign-in of an unknown passkey, for the audit log.
	if err := app.db.Audit(ctx, &models.AuditEvent{Type: models.EventSignInFailed, Detail: models.JSONMap{"reason": "unknown_credential", "credential": "q83vEjRWeJA"}}); err != nil { //nolint:gosec // G101: a made-up credential ID in an audit event
		t.Fatal(err)
	}

	// Sign-ins on each of the last 30 days, one day with five digits, so
	// the overview's chart has every label (checkChartLabels).
	var signIns []models.AuditEvent
	for day := range 30 {
		n := day%5 + 1
		if day == 3 {
			n = 10000
		}
		for range n {
			signIns = append(signIns, models.AuditEvent{CreatedAt: app.clock.Now().AddDate(0, 0, -day), Type: models.EventSignIn, Success: true,
				UserID: user.ID, Detail: models.JSONMap{}})
		}
	}
	if err := app.db.Gorm().WithContext(ctx).CreateInBatches(signIns, 500).Error; err != nil {
		t.Fatal(err)
	}
	// Rows for the token and link lists.
	if _, _, err := app.db.CreateSCIMToken(ctx, "Directory sync from the HR system", "root"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := app.db.CreateSignupLink(ctx, 5, 24*time.Hour, "root"); err != nil {
		t.Fatal(err)
	}

	admin := newChromeFor(t, exe, true, 5*time.Minute)
	admin.setUpPasskey(adminLink, "Admin laptop")
	admin.do("open the console", chromedp.Navigate(app.adminURL+"/admin"))
	admin.passkeySignInUntil(app.issuer, func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.adminURL)
		return ok && u.Path == "/admin" && strings.Contains(s.Text, "Sign-ins per day")
	})
	for _, p := range []struct{ name, path string }{
		{"overview", "/admin"},
		{"users", "/admin/users"},
		{"user", "/admin/users/" + user.ID},
		{"user-new", "/admin/users/new"},
		{"groups", "/admin/groups"},
		{"group", "/admin/groups/" + group.ID},
		{"clients", "/admin/clients"},
		{"client", "/admin/clients/" + client.ID},
		{"client-new", "/admin/clients/new"},
		{"keys", "/admin/keys"},
		{"tokens", "/admin/tokens"},
		{"audit", "/admin/audit"},
		{"branding", "/admin/branding"},
		{"registration-tokens", "/admin/registration-tokens"},
		{"mail", "/admin/mail"},
		{"scim-tokens", "/admin/scim-tokens"},
		{"signup-links", "/admin/signup-links"},
		{"signed-out", "/admin/signed-out"},
	} {
		admin.checkPage(shots, "console-"+p.name, app.adminURL+p.path)
	}
	admin.checkChartLabels(app.adminURL + "/admin")
	admin.checkAuditPaging(app.adminURL + "/admin/audit")

	// The end user's pages.
	alice := newChromeFor(t, exe, true, 5*time.Minute)
	alice.setUpPasskey(userLink, "Alice's phone")
	alice.do("open the account page", chromedp.Navigate(app.issuer+"/account"))
	alice.passkeySignInUntil(app.issuer, func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.issuer)
		return ok && u.Path == "/account" && strings.Contains(s.Text, "Alice's phone")
	})
	alice.checkPage(shots, "account", app.issuer+"/account")
	// The device approval page of a TV that asked to sign in (RFC 8628).
	tv, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Public, c.Name = true, "Living-room TV" })
	dev := oauth2.Config{ClientID: tv.ID, Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: app.issuer + "/device_authorization", TokenURL: app.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	da, err := dev.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alice.checkPage(shots, "device-approve", da.VerificationURIComplete)
	if text, err := chromedp.Run(alice.ctx, chromedp.Text(chromedp.CSS("main"))); err != nil || !strings.Contains(text, "Living-room TV") {
		alice.fatalf("the device approval page does not name the TV: %q %v", text, err)
	}
	// The consent page of an application that registered itself (RFC
	// 7591) carries a notice that no admin checked its name.
	agent := &models.Client{Name: "Helpful Agent", Public: true, RedirectURIs: models.StringList{"http://127.0.0.1:53123/callback"},
		RegisteredBy: models.RegisteredOpen, RequirePKCE: true}
	if _, err := app.db.RegisterClient(ctx, agent); err != nil {
		t.Fatal(err)
	}
	agentAuth := app.issuer + "/authorize?" + url.Values{"client_id": {agent.ID}, "response_type": {"code"}, "scope": {"openid profile"},
		"redirect_uri": {agent.RedirectURIs[0]}, "state": {"st"}, "code_challenge": {s256(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}}.Encode()
	alice.checkPage(shots, "consent-self-registered", agentAuth)
	if text, err := chromedp.Run(alice.ctx, chromedp.Text(chromedp.CSS("#consent-unverified"))); err != nil || !strings.Contains(text, "127.0.0.1:53123") {
		alice.fatalf("self-registered consent notice %q: %v", text, err)
	}

	// Public pages of a browser that is not signed in.
	anon := newChromeFor(t, exe, true, 5*time.Minute)
	anon.do("reach the sign-in page", chromedp.Navigate(app.adminURL+"/admin"))
	var login string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(login, "/login?"); time.Sleep(100 * time.Millisecond) {
		login, _ = chromedp.Run(anon.ctx, chromedp.Location())
	}
	if !strings.Contains(login, "/login?") {
		anon.fatalf("no sign-in page, at %s", login)
	}
	for _, p := range []struct{ name, url string }{
		{"login", login},
		{"home", app.issuer + "/"},
		{"setup", pendingLink},
		{"device", app.issuer + "/device"},
		{"account-signin", app.issuer + "/account"},
		{"recover", app.issuer + "/recover"},
		{"signup", app.issuer + "/signup"},
		{"logged-out", app.issuer + "/logged-out"},
		{"logout-confirm", app.issuer + "/end_session?" + url.Values{"client_id": {client.ID}}.Encode()},
		{"error-setup-link", app.issuer + "/setup/not-a-valid-token"},
		{"error-not-found", app.issuer + "/no-such-page"},
	} {
		anon.checkPage(shots, p.name, p.url)
	}
	// A branded sign-in page (issue 23): name, logo, favicon and accent.
	brand := &models.Branding{ProductName: "Acme ID", Accent: "#0b5d1e", Logo: testPNG(t, 160, 48), LogoType: "image/png",
		Favicon: testPNG(t, 32, 32), FaviconType: "image/png"}
	if err := app.db.SaveBranding(ctx, brand); err != nil {
		t.Fatal(err)
	}
	app.srv.pages.Brand.Set(brand)
	anon.checkPage(shots, "login-branded", login)
	if text, err := chromedp.Run(anon.ctx, chromedp.Text(chromedp.CSS("header.top"))); err != nil || !strings.Contains(text, "Acme ID") {
		anon.fatalf("branded header %q: %v", text, err)
	}
	if resp, err := http.Get(app.issuer + "/no-such-page"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the not-found page: %v %v", err, resp)
	} else {
		_ = resp.Body.Close()
	}
	t.Logf("screenshots in %s", shots)
}
