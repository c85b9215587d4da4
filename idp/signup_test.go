package idp

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/models"
)

// signupPost posts the sign-up form of path (/signup or /signup/TOKEN)
// from a fresh page and returns the status and the body without its CSRF
// tokens.
func signupPost(t *testing.T, b *browser, path, email, name string) (int, string) {
	t.Helper()
	resp := b.get(path)
	page := readBody(t, resp)
	m := csrfMeta.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("GET %s: no CSRF token (%d)", path, resp.StatusCode)
	}
	resp = b.postForm(path, m[1], url.Values{"email": {email}, "name": {name}})
	body := readBody(t, resp)
	return resp.StatusCode, csrfValues.ReplaceAllString(body, "")
}

func usersWithEmail(t *testing.T, db *models.DB, email string) []models.User {
	t.Helper()
	us, err := db.UsersByEmail(context.Background(), email, 10)
	if err != nil {
		t.Fatal(err)
	}
	return us
}

// TestSignupOpen: under --signup=open an address of a listed domain gets
// a verification link that leads to the first passkey (and verifies the
// address); another domain, a malformed address, header injection in the
// name and oversize fields are refused with a message and create
// nothing; a taken address gets the same answer and its owner a notice;
// the sign-in page links to the form; per-address and per-IP limits hold.
func TestSignupOpen(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp), func(c *Config) {
		c.Signup, c.SignupDomains = SignupOpen, []string{"Example.com"}
		c.RateLimits.Limits = map[string]RateLimit{RateLimitSignup: {Requests: 13, Window: time.Hour}}
	})
	runMailJobs(t, app.srv)
	ctx := context.Background()
	b := app.newBrowser()

	if body, _ := b.page("/account", http.StatusOK); !strings.Contains(body, `href="/signup"`) {
		t.Fatal("the account sign-in page does not offer sign-up")
	}
	st, sent := signupPost(t, b, "/signup", "Nia@Example.com", "Nia Okafor")
	if st != http.StatusOK || !strings.Contains(sent, `id="signup-sent"`) {
		t.Fatalf("sign-up = %d\n%s", st, sent)
	}
	us := usersWithEmail(t, app.db, "nia@example.com")
	if len(us) != 1 || us[0].EmailVerified || us[0].DisplayName != "Nia Okafor" || us[0].Username != "nia@example.com" {
		t.Fatalf("account after sign-up: %+v", us)
	}
	msg := noticeTo(t, mp, "Nia@Example.com", "Confirm your address for Latchkey")
	link := mailedLinkIn(t, msg)
	nb := app.newBrowser()
	nb.register(link)
	u, err := app.db.UserByID(ctx, us[0].ID)
	if err != nil || !u.EmailVerified {
		t.Fatalf("address not verified after the first passkey: %+v %v", u, err)
	}
	if _, err := app.db.PendingSignup(ctx, u.ID); err == nil {
		t.Fatal("the sign-up is still pending")
	}
	nb.page(strings.TrimPrefix(link, app.issuer), http.StatusNotFound) // used
	nb.accountSignIn()

	// A taken address: the same answer; its owner gets a notice, nobody a link.
	st, again := signupPost(t, b, "/signup", "nia@example.com", "Nia Okafor")
	if st != http.StatusOK || again != strings.Replace(sent, "Nia@Example.com", "nia@example.com", 1) {
		t.Fatalf("a taken address answers differently (%d):\n%s\n---\n%s", st, sent, again)
	}
	noticeTo(t, mp, "nia@example.com", "Someone tried to sign up for Latchkey with your address", "/recover")
	if n := len(usersWithEmail(t, app.db, "nia@example.com")); n != 1 {
		t.Fatalf("%d accounts for a taken address", n)
	}

	// Bad input: a clear message, nothing created.
	for _, c := range []struct{ email, name, want string }{
		{"eve@elsewhere.org", "", "cannot sign up here"},
		{"eve@sub.example.com", "", "cannot sign up here"},
		{"not-an-address", "", "not an email address"},
		{"eve@example.com\r\nBcc: x@example.com", "", "not an email address"},
		{strings.Repeat("e", 300) + "@example.com", "", "not an email address"},
		{"eve@example.com", "Eve\r\nBcc: x@example.com", "at most 64 bytes"},
		{"eve@example.com", strings.Repeat("E", 65), "at most 64 bytes"},
	} {
		st, body := signupPost(t, b, "/signup", c.email, c.name)
		if st != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) || !strings.Contains(body, c.want) {
			t.Errorf("sign-up %q %q = %d, want 400 with %q", c.email, c.name, st, c.want)
		}
	}
	for _, e := range []string{"eve@elsewhere.org", "eve@example.com", "eve@sub.example.com"} {
		if n := len(usersWithEmail(t, app.db, e)); n != 0 {
			t.Errorf("a refused sign-up created %d accounts for %s", n, e)
		}
	}

	// Per address: three messages an hour, then the same answer and nothing sent.
	for range 4 {
		if st, body := signupPost(t, b, "/signup", "omar@example.com", ""); st != http.StatusOK || !strings.Contains(body, `id="signup-sent"`) {
			t.Fatalf("repeat = %d", st)
		}
	}
	mp.Wait(t, "omar@example.com", 3, 10*time.Second)
	time.Sleep(2 * time.Second) // a fourth would be sent by now: the delivery loop runs every second
	if msgs, _ := mp.To("omar@example.com"); len(msgs) != 3 {
		t.Fatalf("%d messages to one address, want 3 (the per-address limit)", len(msgs))
	}
	if n := len(usersWithEmail(t, app.db, "omar@example.com")); n != 1 {
		t.Fatalf("%d accounts for repeated sign-ups of one address", n)
	}
	// Per client IP: the 14th request of the hour is a 429.
	if st, _ := signupPost(t, b, "/signup", "pat@example.com", ""); st != http.StatusTooManyRequests {
		t.Fatalf("request over the per-IP limit = %d", st)
	}

	// An unverified sign-up is purged with its account once its link
	// expires; until the purge the expired link says so.
	omar := usersWithEmail(t, app.db, "omar@example.com")[0]
	omarLink := mailedLink(t, mp, "omar@example.com", 3)
	app.clock.Advance(25 * time.Hour)
	if body, _ := b.page(strings.TrimPrefix(omarLink, app.issuer), http.StatusGone); !strings.Contains(body, "expired") {
		t.Fatalf("expired verification link:\n%s", body)
	}
	if counts, err := app.db.Purge(ctx, models.PurgeOptions{}); err != nil || counts["signup_accounts"] != 1 {
		t.Fatalf("purge: %v %v", counts, err)
	}
	if _, err := app.db.UserByID(ctx, omar.ID); err == nil {
		t.Fatal("an unverified sign-up's account outlived its link")
	}
	if _, err := app.db.UserByID(ctx, u.ID); err != nil {
		t.Fatalf("the verified account was purged: %v", err)
	}
}

// TestSignupInvite: under --signup=invite the form needs a sign-up link;
// each sign-up spends one use; an exhausted, expired, revoked or unknown
// link gets its error page and creates nothing.
func TestSignupInvite(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp), func(c *Config) { c.Signup = SignupInvite })
	runMailJobs(t, app.srv)
	ctx := context.Background()
	b := app.newBrowser()
	if body, _ := b.page("/signup", http.StatusForbidden); !strings.Contains(body, `id="signup-invite-only"`) || strings.Contains(body, `id="signup-form"`) {
		t.Fatalf("/signup without a link:\n%s", body)
	}
	resp := b.postForm("/signup", "x", url.Values{"email": {"a@example.com"}})
	_ = readBody(t, resp)
	if resp.StatusCode == http.StatusOK {
		t.Fatal("a sign-up without a link was accepted")
	}

	raw, l, err := app.db.CreateSignupLink(ctx, 2, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	path := "/signup/" + raw
	for _, e := range []string{"kim@any.org", "lou@other.net"} {
		if st, body := signupPost(t, b, path, e, ""); st != http.StatusOK || !strings.Contains(body, `id="signup-sent"`) {
			t.Fatalf("sign-up of %s with the link = %d\n%s", e, st, body)
		}
	}
	link := mailedLinkIn(t, noticeTo(t, mp, "kim@any.org", "Confirm your address for Latchkey"))
	app.newBrowser().register(link)
	// Used up: the form and the post answer 410, nothing is created.
	if body, _ := b.page(path, http.StatusGone); !strings.Contains(body, "used as often as it allows") {
		t.Fatalf("used-up link page:\n%s", body)
	}
	_, csrf := b.page("/account", http.StatusOK)
	resp = b.postForm(path, csrf, url.Values{"email": {"max@any.org"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusGone || !strings.Contains(body, "used as often") {
		t.Fatalf("post with a used-up link = %d", resp.StatusCode)
	}
	if n := len(usersWithEmail(t, app.db, "max@any.org")); n != 0 {
		t.Fatal("a used-up link created an account")
	}
	got, _ := app.db.SignupLinks(ctx, 10)
	if len(got) != 1 || got[0].ID != l.ID || got[0].Uses != 2 {
		t.Fatalf("link after two sign-ups: %+v", got)
	}

	// Revoked and unknown links: 404; expired: 410.
	raw2, l2, _ := app.db.CreateSignupLink(ctx, 5, time.Hour, "test")
	if err := app.db.RevokeSignupLink(ctx, l2.ID); err != nil {
		t.Fatal(err)
	}
	b.page("/signup/"+raw2, http.StatusNotFound)
	b.page("/signup/lku_unknown", http.StatusNotFound)
	raw3, _, _ := app.db.CreateSignupLink(ctx, 5, time.Hour, "test")
	app.clock.Advance(2 * time.Hour)
	if body, _ := b.page("/signup/"+raw3, http.StatusGone); !strings.Contains(body, "expired") {
		t.Fatalf("expired link page:\n%s", body)
	}
}

// TestSignupClosed: the default refuses sign-up and the sign-in pages do
// not offer it.
func TestSignupClosed(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	b := app.newBrowser()
	if body, _ := b.page("/account", http.StatusOK); strings.Contains(body, `href="/signup"`) {
		t.Fatal("the sign-in page offers sign-up while it is closed")
	}
	body, csrf := b.page("/signup", http.StatusForbidden)
	if !strings.Contains(body, `id="signup-closed"`) || strings.Contains(body, `id="signup-form"`) {
		t.Fatalf("closed sign-up page:\n%s", body)
	}
	resp := b.postForm("/signup", csrf, url.Values{"email": {"zed@example.com"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="signup-closed"`) {
		t.Fatalf("closed sign-up post = %d", resp.StatusCode)
	}
	if n := len(usersWithEmail(t, app.db, "zed@example.com")); n != 0 {
		t.Fatal("a closed sign-up created an account")
	}
	// The page speaks the browser's language.
	for lang, want := range map[string]string{"de": "Die Registrierung ist hier geschlossen", "fr": "inscription est fermée ici"} {
		req, _ := http.NewRequest(http.MethodGet, app.issuer+"/signup", nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := app.newBrowser().client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); !strings.Contains(body, want) {
			t.Errorf("/signup in %s lacks %q", lang, want)
		}
	}
}

// TestSignupConfig: the policy's settings are checked at start.
func TestSignupConfig(t *testing.T) {
	for name, c := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"open without domains": {func(c *Config) { c.Signup = SignupOpen }, "needs --signup-domains"},
		"bad domain":           {func(c *Config) { c.Signup, c.SignupDomains = SignupOpen, []string{"exa mple"} }, "is not a domain name"},
		"domains when closed":  {func(c *Config) { c.SignupDomains = []string{"example.com"} }, "needs --signup=open"},
		"no smtp":              {func(c *Config) { c.Signup = SignupInvite }, "needs --smtp-url"},
		"unknown policy":       {func(c *Config) { c.Signup = "maybe" }, "closed, invite or open"},
	} {
		cfg := testConfig(t, "http://localhost:8080", time.Now)
		c.mutate(&cfg)
		cfg.Defaults()
		if probs := strings.Join(cfg.Validate(), "\n"); !strings.Contains(probs, c.want) {
			t.Errorf("%s: problems %q, want %q", name, probs, c.want)
		}
	}
}

// TestSignupLinksConsoleAndAPI: an admin creates sign-up links in the
// console and through /api/v1/signup-links (shown once, stored hashed),
// bad values are refused, and a revoked link stops working at once.
func TestSignupLinksConsoleAndAPI(t *testing.T) {
	mp := mailtest.Start(t)
	app := newAdminApp(t, withMailpit(t, mp), func(c *Config) { c.Signup = SignupInvite })
	ctx := context.Background()
	b, root := adminWithConsole(t, app)

	body, csrf := b.adminPage(app.adminURL+"/admin/signup-links", http.StatusOK)
	if !strings.Contains(body, "No sign-up links yet") || !strings.Contains(body, "<strong>invite</strong>") {
		t.Fatalf("sign-up links page:\n%s", body)
	}
	for _, bad := range []url.Values{{"uses": {"0"}, "hours": {"72"}}, {"uses": {"2"}, "hours": {"0"}}, {"uses": {"x"}, "hours": {"1"}}} {
		resp := b.postForm(app.adminURL+"/admin/signup-links", csrf, bad)
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) {
			t.Errorf("create %v = %d", bad, resp.StatusCode)
		}
	}
	if ls, _ := app.db.SignupLinks(ctx, 10); len(ls) != 0 {
		t.Fatalf("refused forms created %d links", len(ls))
	}
	resp := b.postForm(app.adminURL+"/admin/signup-links", csrf, url.Values{"uses": {"5"}, "hours": {"48"}})
	body = readBody(t, resp)
	m := regexp.MustCompile(`id="new-link" type="text" readonly value="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || m == nil || !strings.HasPrefix(m[1], app.issuer+"/signup/"+models.SignupLinkPrefix) {
		t.Fatalf("create = %d\n%s", resp.StatusCode, body)
	}
	raw := strings.TrimPrefix(m[1], app.issuer+"/signup/")
	ls, _ := app.db.SignupLinks(ctx, 10)
	if len(ls) != 1 || ls[0].MaxUses != 5 || ls[0].CreatedBy != root.ID || strings.Contains(string(ls[0].TokenHash), raw) {
		t.Fatalf("stored: %+v", ls)
	}
	pb := app.newBrowser()
	if body, _ := pb.page("/signup/"+raw, http.StatusOK); !strings.Contains(body, `id="signup-form"`) {
		t.Fatal("the console's link shows no sign-up form")
	}

	apiToken, _, err := app.db.CreateAPIToken(ctx, "ci", root.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var created admin.APISignupLink
	if st := apiCall(t, app, http.MethodPost, "/api/v1/signup-links", apiToken, map[string]any{"max_uses": 2, "expires_in": "72h"}, &created); st != http.StatusCreated ||
		!strings.HasPrefix(created.URL, app.issuer+"/signup/lku_") || created.State != "active" || created.MaxUses != 2 {
		t.Fatalf("API create: %d %+v", st, created)
	}
	var e map[string]string
	for _, bad := range []map[string]any{{"max_uses": 0, "expires_in": "72h"}, {"max_uses": 2, "expires_in": "soon"}, {"max_uses": 2, "expires_in": "1s"}} {
		if st := apiCall(t, app, http.MethodPost, "/api/v1/signup-links", apiToken, bad, &e); st != http.StatusUnprocessableEntity || e["error"] == "" {
			t.Errorf("API create %v: %d %v", bad, st, e)
		}
	}
	var list struct {
		Links []admin.APISignupLink `json:"signup_links"`
	}
	if st := apiCall(t, app, http.MethodGet, "/api/v1/signup-links", apiToken, nil, &list); st != http.StatusOK || len(list.Links) != 2 || list.Links[0].URL != "" {
		t.Fatalf("API list: %d %+v", st, list)
	}
	if st := apiCall(t, app, http.MethodDelete, "/api/v1/signup-links/"+created.ID, apiToken, nil, nil); st != http.StatusNoContent {
		t.Fatalf("API revoke: %d", st)
	}
	pb.page(strings.TrimPrefix(created.URL, app.issuer), http.StatusNotFound)
	if st := apiCall(t, app, http.MethodDelete, "/api/v1/signup-links/"+created.ID, apiToken, nil, &e); st != http.StatusNotFound {
		t.Fatalf("API revoke twice: %d", st)
	}
	// Revoke in the console.
	_, csrf = b.adminPage(app.adminURL+"/admin/signup-links", http.StatusOK)
	b.expectRedirectAfter(app.adminURL+"/admin/signup-links/"+ls[0].ID+"/revoke", csrf, url.Values{})
	pb.page("/signup/"+raw, http.StatusNotFound)
	if evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventSignupLinkRevoked}); len(evs) != 2 {
		t.Fatalf("%d revocations audited, want 2", len(evs))
	}
}

// TestSignupPolicyFromConsole: without --signup the console sets the
// policy (checked, audited) and the public pages follow it; --signup
// fixes it; without SMTP only closed can be chosen.
func TestSignupPolicyFromConsole(t *testing.T) {
	mp := mailtest.Start(t)
	app := newAdminApp(t, withMailpit(t, mp))
	ctx := context.Background()
	b, root := adminWithConsole(t, app)
	pb := app.newBrowser()
	pb.page("/signup", http.StatusForbidden)

	body, csrf := b.adminPage(app.adminURL+"/admin/signup-links", http.StatusOK)
	if !strings.Contains(body, `id="signup-policy-form"`) || !strings.Contains(body, "<strong>closed</strong>") {
		t.Fatalf("sign-up page:\n%s", body)
	}
	for _, bad := range []url.Values{{"policy": {"open"}}, {"policy": {"open"}, "domains": {"not a domain"}}, {"policy": {"sometimes"}}} {
		resp := b.postForm(app.adminURL+"/admin/signup-policy", csrf, bad)
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) {
			t.Errorf("policy %v = %d", bad, resp.StatusCode)
		}
	}
	pb.page("/signup", http.StatusForbidden)
	b.expectRedirectAfter(app.adminURL+"/admin/signup-policy", csrf, url.Values{"policy": {"open"}, "domains": {"Example.org, example.net"}})
	if body, _ := pb.page("/signup", http.StatusOK); !strings.Contains(body, `id="signup-form"`) {
		t.Fatal("/signup shows no form under the console's open policy")
	}
	if body, _ := pb.page("/account", http.StatusOK); !strings.Contains(body, `href="/signup"`) {
		t.Fatal("the sign-in page does not offer sign-up")
	}
	if st, _ := signupPost(t, pb, "/signup", "ann@example.net", ""); st != http.StatusOK {
		t.Fatalf("sign-up of a listed domain = %d", st)
	}
	if st, body := signupPost(t, pb, "/signup", "ann@example.com", ""); st != http.StatusBadRequest || !strings.Contains(body, "cannot sign up here") {
		t.Fatalf("sign-up of another domain = %d", st)
	}
	evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventSignupPolicyChanged})
	if len(evs) != 1 || evs[0].ActorID != root.ID || evs[0].Detail["domains"] != "example.org,example.net" {
		t.Fatalf("audit: %+v", evs)
	}
	b.expectRedirectAfter(app.adminURL+"/admin/signup-policy", csrf, url.Values{"policy": {"closed"}})
	pb.page("/signup", http.StatusForbidden)

	// --signup fixes the policy: no form, and a post is refused.
	fixed := newAdminApp(t, withMailpit(t, mp), func(c *Config) { c.Signup = SignupInvite })
	fb, _ := adminWithConsole(t, fixed)
	body, csrf = fb.adminPage(fixed.adminURL+"/admin/signup-links", http.StatusOK)
	if strings.Contains(body, `id="signup-policy-form"`) || !strings.Contains(body, "set by <code>serve --signup</code>") {
		t.Fatalf("fixed policy page:\n%s", body)
	}
	resp := fb.postForm(fixed.adminURL+"/admin/signup-policy", csrf, url.Values{"policy": {"closed"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "set by serve --signup=invite") {
		t.Fatalf("changing a fixed policy = %d", resp.StatusCode)
	}

	// Without SMTP, no sign-up (it verifies by email).
	nomail := newAdminApp(t)
	nb, _ := adminWithConsole(t, nomail)
	_, csrf = nb.adminPage(nomail.adminURL+"/admin/signup-links", http.StatusOK)
	resp = nb.postForm(nomail.adminURL+"/admin/signup-policy", csrf, url.Values{"policy": {"invite"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "needs --smtp-url") {
		t.Fatalf("invite without SMTP = %d", resp.StatusCode)
	}
}

// TestSignupTakesAsLongForTakenAddresses: a taken address gets the same
// page as a new one, and in as much time: every accepted request is
// answered no sooner than recoveryAnswerTime, whether it created an
// account or told the owner of a taken address.
func TestSignupTakesAsLongForTakenAddresses(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp), func(c *Config) {
		c.Signup, c.SignupDomains = SignupOpen, []string{"example.com"}
		c.RateLimits.Limits = map[string]RateLimit{RateLimitSignup: {Requests: 100, Window: time.Hour}}
	})
	b := app.newBrowser()
	median := func(addrs []string) time.Duration {
		var ds []time.Duration
		for _, a := range addrs {
			_, csrf := b.page("/signup", http.StatusOK)
			start := time.Now()
			resp := b.postForm("/signup", csrf, url.Values{"email": {a}, "name": {"Sam"}})
			body := readBody(t, resp)
			d := time.Since(start)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="signup-sent"`) {
				t.Fatalf("sign-up %s = %d", a, resp.StatusCode)
			}
			if d < recoveryAnswerTime {
				t.Errorf("sign-up %s answered after %v, before %v", a, d, recoveryAnswerTime)
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	var taken, fresh []string
	for _, n := range []string{"sam", "sol", "sky"} {
		app.newUser(n, false)
		taken = append(taken, n+"@example.com")
		fresh = append(fresh, "new-"+n+"@example.com")
	}
	k, u := median(taken), median(fresh)
	if diff := (k - u).Abs(); diff > recoveryAnswerTime/3 {
		t.Errorf("taken addresses take %v, new ones %v: the difference %v tells them apart", k, u, diff)
	}
	if n := len(usersWithEmail(t, app.db, "new-sam@example.com")); n != 1 {
		t.Fatalf("%d accounts for a new address, want 1", n)
	}
}
