package idp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

// clock is a fake clock that follows real time plus an offset, so expiry
// can be tested without sleeping while JWT libraries keep working.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// testApp is the whole public application on a loopback port, reachable as
// http://localhost:PORT (WebAuthn refuses IP addresses as RP IDs).
type testApp struct {
	t      *testing.T
	srv    *Server
	db     *models.DB
	clock  *clock
	issuer string
	http   *httptest.Server
}

func newTestApp(t *testing.T, mutate ...func(*Config)) *testApp {
	t.Helper()
	return newTestAppOn(t, dbtest.DSN(t), mutate...)
}

// newTestAppOn is newTestApp on the database of dsn.
func newTestAppOn(t *testing.T, dsn string, mutate ...func(*Config)) *testApp {
	t.Helper()
	clk := &clock{}
	db, sealer := openTestDB(t, dsn, clk.Now)
	ln, issuer := listenLoopback(t)
	cfg := testConfig(t, issuer, clk.Now)
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(context.Background(), cfg, db, sealer)
	if err != nil {
		t.Fatal(err)
	}
	hs := serveOn(t, ln, srv.PublicHandler())
	return &testApp{t: t, srv: srv, db: db, clock: clk, issuer: issuer, http: hs}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// browser is a cookie-keeping HTTP client that never follows redirects,
// with the software authenticator standing in for the user's passkey.
type browser struct {
	t      *testing.T
	app    *testApp
	client *http.Client
	auth   *passkeytest.Authenticator
}

func (a *testApp) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: a.t, app: a, auth: passkeytest.New("localhost", a.issuer), client: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// setLang makes b show pages in lang, as the language switcher's cookie
// does (idp/web/lang.go).
func (b *browser) setLang(lang string) {
	u, err := url.Parse(b.app.issuer)
	if err != nil {
		b.t.Fatal(err)
	}
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "latchkey_lang", Value: lang, Path: "/"}}) //nolint:gosec // G124: the switcher's cookie as a test browser on loopback http holds it
}

// in returns b bound to a subtest (same cookie jar and passkey), so its
// failures stop and are reported by that subtest: FailNow must run on the
// goroutine of the test it belongs to.
func (b *browser) in(t *testing.T) *browser {
	nb := *b
	nb.t = t
	return &nb
}

// in returns a bound to a subtest (same server, database and clock), so
// the helpers' failures are reported by that subtest.
func (a *testApp) in(t *testing.T) *testApp {
	na := *a
	na.t = t
	return &na
}

func (b *browser) get(u string) *http.Response {
	b.t.Helper()
	resp, err := b.client.Get(b.abs(u))
	if err != nil {
		b.t.Fatal(err)
	}
	return resp
}

func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.app.issuer + u
	}
	return u
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// page GETs an HTML page, checks the status and returns body and CSRF token.
func (b *browser) page(u string, want int) (string, string) {
	b.t.Helper()
	resp := b.get(u)
	body := readBody(b.t, resp)
	if resp.StatusCode != want {
		b.t.Fatalf("GET %s: status %d, want %d\n%s", u, resp.StatusCode, want, body)
	}
	csrf := ""
	if m := csrfMeta.FindStringSubmatch(body); m != nil {
		csrf = m[1]
	}
	return body, csrf
}

// postJSON posts like the page scripts do and decodes the JSON answer.
func (b *browser) postJSON(u, csrf string, in any, out any) int {
	b.t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, b.abs(u), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	raw := readBody(b.t, resp)
	if out != nil {
		if err := json.Unmarshal([]byte(raw), out); err != nil {
			b.t.Fatalf("POST %s: status %d, body not JSON: %q", u, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type beginResp struct {
	CeremonyID string          `json:"ceremonyID"`
	Options    json.RawMessage `json:"options"`
	Error      string          `json:"error"`
}

// register opens a setup link and creates a passkey named "Test key" with
// the authenticator; any refusal fails the test.
func (b *browser) register(setupURL string) {
	b.t.Helper()
	if st, msg := b.registerNamed(setupURL, "Test key"); st != http.StatusOK {
		b.t.Fatalf("setup finish: %d %s", st, msg)
	}
}

// registerNamed runs the setup-link ceremony and returns the finish status
// and error message ("" on success).
func (b *browser) registerNamed(setupURL, name string) (int, string) {
	b.t.Helper()
	path := strings.TrimPrefix(setupURL, b.app.issuer)
	_, csrf := b.page(path, http.StatusOK)
	var begin beginResp
	if st := b.postJSON(path+"/begin", csrf, map[string]any{}, &begin); st != http.StatusOK {
		b.t.Fatalf("setup begin: %d %s", st, begin.Error)
	}
	cred, err := b.auth.Create(begin.Options)
	if err != nil {
		b.t.Fatal(err)
	}
	body := map[string]any{"ceremonyID": begin.CeremonyID, "credential": json.RawMessage(cred)}
	if name != "" {
		body["name"] = name
	}
	var fin map[string]string
	st := b.postJSON(path+"/finish", csrf, body, &fin)
	return st, fin["error"]
}

// newUser creates a user and returns a setup URL for it.
func (a *testApp) newUser(username string, admin bool) (*models.User, string) {
	a.t.Helper()
	u := &models.User{Username: username, Email: username + "@example.com", EmailVerified: true, DisplayName: strings.ToUpper(username[:1]) + username[1:], IsAdmin: admin}
	if err := a.db.CreateUser(context.Background(), u); err != nil {
		a.t.Fatal(err)
	}
	link, err := IssueSetupLink(context.Background(), a.db, a.issuer, u.ID, time.Hour, "test")
	if err != nil {
		a.t.Fatal(err)
	}
	return u, link
}

// newClient registers a confidential client for redirectURI.
func (a *testApp) newClient(redirectURI string, mutate ...func(*models.Client)) (*models.Client, string) {
	a.t.Helper()
	// SkipConsent: test apps are first-party unless a test asks for consent.
	c := &models.Client{Name: "Test App", SkipConsent: true, RedirectURIs: models.StringList{redirectURI}, PostLogoutRedirectURIs: models.StringList{redirectURI + "/bye"}}
	for _, m := range mutate {
		m(c)
	}
	secret, err := a.db.CreateClient(context.Background(), c)
	if err != nil {
		a.t.Fatal(err)
	}
	return c, secret
}

// authorizeAnswer is what /authorize and the sign-in page op sends the
// browser to answered: that page, or a redirect (a live session, an
// error, consent).
type authorizeAnswer struct {
	body, arID, csrf string
	redirect         *url.URL
}

var authRequestAttr = regexp.MustCompile(`data-auth-request="([^"]*)"`)

// authorize opens an authorize URL and, when op sends the browser to the
// sign-in page (/login?authRequestID=…), that page.
func (b *browser) authorize(authorizeURL string) authorizeAnswer {
	b.t.Helper()
	resp := b.get(authorizeURL)
	body, status := readBody(b.t, resp), resp.StatusCode
	loc, locErr := resp.Location()
	if locErr == nil && status == http.StatusFound &&
		loc.Path == "/login" && loc.Query().Get("authRequestID") != "" && strings.HasPrefix(loc.String(), b.app.issuer) {
		page := b.get(loc.String())
		body, status = readBody(b.t, page), page.StatusCode
		loc, locErr = page.Location()
	}
	switch status {
	case http.StatusFound, http.StatusSeeOther:
		if locErr != nil {
			b.t.Fatal(locErr)
		}
		return authorizeAnswer{redirect: loc}
	case http.StatusOK:
	default:
		b.t.Fatalf("GET %s: status %d\n%s", authorizeURL, status, body)
	}
	a := authorizeAnswer{body: body}
	if m := authRequestAttr.FindStringSubmatch(body); m != nil {
		a.arID = html.UnescapeString(m[1])
	}
	if m := csrfMeta.FindStringSubmatch(body); m != nil {
		a.csrf = m[1]
	}
	if a.arID == "" || a.csrf == "" {
		b.t.Fatalf("GET %s: not the sign-in page\n%s", authorizeURL, body)
	}
	return a
}

// signInPage opens an authorize URL that must answer with the sign-in
// page, and returns its auth request ID, CSRF token and body.
func (b *browser) signInPage(authorizeURL string) (arID, csrf, body string) {
	b.t.Helper()
	a := b.authorize(authorizeURL)
	if a.redirect != nil {
		b.t.Fatalf("authorize went to %s, want the sign-in page", a.redirect)
	}
	return a.arID, a.csrf, a.body
}

// signIn follows an authorize URL through the passkey sign-in and returns
// the final redirect to the client (with code and state).
func (b *browser) signIn(authorizeURL string) *url.URL {
	b.t.Helper()
	a := b.authorize(authorizeURL)
	if a.redirect != nil {
		// A live session completes the request without a ceremony.
		return b.followToClient(a.redirect)
	}
	// As the page's script: the first ceremony is the one the page carries.
	begin := pageBegin(b.t, a.body)
	assertion, err := b.auth.Get(begin.Options)
	if err != nil {
		b.t.Fatal(err)
	}
	var fin struct{ Redirect, Error string }
	if st := b.postJSON("/login/passkey/finish", a.csrf, map[string]any{"authRequestID": a.arID, "ceremonyID": begin.CeremonyID, "credential": json.RawMessage(assertion)}, &fin); st != http.StatusOK {
		b.t.Fatalf("login finish: %d %s", st, fin.Error)
	}
	u, err := url.Parse(fin.Redirect)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.followToClient(u)
}

var firstBeginAttr = regexp.MustCompile(`data-first-begin="([^"]*)"`)

// pageBegin returns the first ceremony a sign-in page carries: the request
// options for its auth request's own challenge, without a ceremony ID.
func pageBegin(t *testing.T, body string) beginResp {
	t.Helper()
	m := firstBeginAttr.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("sign-in page without its first ceremony:\n%s", body)
	}
	var begin beginResp
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &begin); err != nil || begin.CeremonyID != "" || len(begin.Options) == 0 {
		t.Fatalf("first ceremony %q: %+v %v", m[1], begin, err)
	}
	return begin
}

// followToClient follows redirects on the issuer until one leaves it.
func (b *browser) followToClient(u *url.URL) *url.URL {
	b.t.Helper()
	for i := 0; i < 5; i++ {
		if !strings.HasPrefix(u.String(), b.app.issuer) && u.IsAbs() {
			return u
		}
		u = b.expectRedirect(u.String())
	}
	b.t.Fatalf("too many redirects at %s", u)
	return nil
}

func (b *browser) expectRedirect(u string) *url.URL {
	b.t.Helper()
	resp := b.get(u)
	body := readBody(b.t, resp)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("GET %s: status %d, want a redirect\n%s", u, resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
