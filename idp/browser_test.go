package idp

// Real-browser tests: Debian Chromium driven over the DevTools protocol with a
// CDP virtual authenticator, through the real pages and the real demo relying
// app (cmd/demo-rp). See docs/TESTING.md ("Chromium with a virtual
// authenticator"). These tests must not skip in CI.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/testserver"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-idp/latchkey/models"
)

const (
	browserTestTimeout = 60 * time.Second
	browserUsername    = "browser-alice"
)

// syncBuffer collects output written from other goroutines (a child
// process, the browser) so it can be logged once the test knows it failed.
type syncBuffer = testserver.SyncBuffer

// findChromium returns the browser to drive. Skipping is only allowed on a
// developer machine without Chromium; CI must always run these tests.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LATCHKEY_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("LATCHKEY_CHROMIUM=%q: %v", p, err)
		}
		return p
	}
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/bin/chromium"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "Chromium not found (set LATCHKEY_CHROMIUM, or install it: apt-get update && apt-get install -y chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; browser tests must not skip in CI")
	}
	t.Skip(msg)
	return ""
}

// moduleRoot is the directory holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("go env GOMOD: not inside the module")
	}
	return filepath.Dir(gomod)
}

// startDemoRP builds cmd/demo-rp, registers it as a client of app and runs
// it on http://localhost:PORT. It returns the demo app's base URL.
func startDemoRP(t *testing.T, app *testApp) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo-rp")
	build := exec.Command("go", "build", "-o", bin, "./cmd/demo-rp")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/demo-rp: %v\n%s", err, out)
	}

	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	client, secret := app.newClient(base+"/callback", func(c *models.Client) {
		c.Name = "Latchkey demo app"
		c.PostLogoutRedirectURIs = models.StringList{base + "/"}
	})

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	cmd := exec.CommandContext(ctx, bin,
		"--issuer", app.issuer,
		"--client-id", client.ID,
		"--client-secret", secret,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--redirect-url", base+"/callback",
	)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start demo-rp: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		err := <-exited // killed by cancel: an error here is expected
		if t.Failed() {
			t.Logf("demo-rp (%v) output:\n%s", err, stderr.String())
		}
	})

	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := hc.Get(base + "/")
		if err == nil {
			_ = resp.Body.Close() // polling: only the status is checked
			if resp.StatusCode == http.StatusOK {
				return base
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			t.Fatalf("demo-rp exited early: %v\n%s", werr, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo-rp did not answer on %s: %v\n%s", base, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// withoutDBus drops Chromium's harmless complaints about a missing D-Bus.
func withoutDBus(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if !strings.Contains(line, ":ERROR:dbus/") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// chrome is one headless Chromium (one browser context, one tab) with a
// virtual platform authenticator attached to the tab.
type chrome struct {
	t      *testing.T
	tab    context.Context // the tab; lives until cleanup
	ctx    context.Context // tab with the per-test deadline; used for every step
	authID webauthn.AuthenticatorID
	logs   *syncBuffer
}

func newChrome(t *testing.T, exe string, userVerified bool) *chrome {
	t.Helper()
	return newChromeFor(t, exe, userVerified, browserTestTimeout)
}

// newChromeFor is newChrome with another deadline for its actions.
func newChromeFor(t *testing.T, exe string, userVerified bool, timeout time.Duration) *chrome {
	t.Helper()
	logs := &syncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(logs),
	}
	// A hard limit above the per-test deadline, so a wedged browser still dies.
	hard, hardCancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	alloc, allocCancel := chromedp.NewExecAllocator(hard, opts...)
	tab, tabCancel := chromedp.NewContext(alloc, chromedp.WithLogf(logs.Printf), chromedp.WithErrorf(logs.Printf))
	// Cleanups run last-in first-out: the browser exits (allocCancel waits for
	// the process) before t.TempDir removes its profile.
	t.Cleanup(func() {
		tabCancel()
		allocCancel()
		hardCancel()
		if t.Failed() {
			t.Logf("chromium output (D-Bus noise left out):\n%s", withoutDBus(logs.String()))
		}
	})
	// The first call starts the browser and binds it to tab, not to the
	// shorter per-test deadline below.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium %s: %v\n%s", exe, err, logs.String())
	}
	ctx, cancel := context.WithTimeout(tab, timeout)
	t.Cleanup(cancel)
	c := &chrome{t: t, tab: tab, ctx: ctx, logs: logs}

	// The authenticator belongs to the tab and survives navigations; add it
	// before any page calls WebAuthn.
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:            webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:        webauthn.Ctap2versionCtap21,
			Transport:           webauthn.AuthenticatorTransportInternal,
			HasResidentKey:      true,
			HasUserVerification: true,
			IsUserVerified:      userVerified,
			// Explicit: without it every ceremony waits for a touch that never comes.
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	c.authID = res.AuthenticatorID
	return c
}

// do executes actions and fails the test with the page state on error.
func (c *chrome) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.fatalf("%s: %v", what, err)
	}
}

// fatalf dumps where the browser is and what it shows, then fails the test.
func (c *chrome) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf(format, args...)
	ctx, cancel := context.WithTimeout(c.tab, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		c.t.Logf("browser location unavailable: %v", err)
	}
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : "(no body)"`))
	if err != nil {
		c.t.Logf("page text unavailable: %v", err)
	}
	c.t.Logf("browser at %s\n--- page text ---\n%s\n---", loc, body)
	c.t.FailNow()
}

// credentials lists the passkeys the virtual authenticator holds.
func (c *chrome) credentials() []*webauthn.Credential {
	c.t.Helper()
	res, err := chromedp.Call(c.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: c.authID})
	if err != nil {
		c.fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// pageState is what the polling loops look at.
type pageState struct {
	Href       string `json:"href"`
	Ready      string `json:"ready"`
	Text       string `json:"text"`
	Status     string `json:"status"`
	StatusKind string `json:"statusKind"`
	Button     bool   `json:"button"`
	DemoError  string `json:"demoError"`
}

const pageStateJS = `(() => {
  const st = document.getElementById("status");
  const btn = document.getElementById("passkey-signin");
  return {
    href: location.href,
    ready: document.readyState,
    text: document.body ? document.body.innerText : "",
    status: st ? st.textContent : "",
    statusKind: st ? st.className : "",
    button: !!btn,
    demoError: document.getElementById("error") ? document.body.innerText : "",
  };
})()`

// state reads the page; during a navigation it may fail, which is not an error.
func (c *chrome) state() (pageState, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
}

// setUpPasskey opens the setup link and creates a passkey through the page.
func (c *chrome) setUpPasskey(setupURL, name string) {
	c.t.Helper()
	c.do("create a passkey on the setup page",
		chromedp.Navigate(setupURL),
		chromedp.WaitVisible(chromedp.ID("passkey-create")),
		chromedp.SendKeys(chromedp.ID("passkey-name"), name),
		chromedp.Click(chromedp.ID("passkey-create")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	done, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.ID("done")))
	if err != nil {
		c.fatalf("read #done: %v", err)
	}
	if !strings.Contains(done, "Your passkey is ready") {
		c.fatalf("#done says %q, want it to contain %q", done, "Your passkey is ready")
	}
}

func sameOrigin(href, base string) (*url.URL, bool) {
	u, err := url.Parse(href)
	if err != nil {
		return nil, false
	}
	b, _ := url.Parse(base)
	return u, u.Scheme == b.Scheme && u.Host == b.Host
}

// noAutofillJS hides conditional mediation from the sign-in page, so only
// the "Sign in with a passkey" button can start the ceremony.
const noAutofillJS = `if (window.PublicKeyCredential) {
  PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
}`

// TestBrowserSetupAndSignIn: setup link → passkey in Chromium → the demo
// relying app signs the user in through Latchkey. "autofill" lets the page
// use conditional UI as a real browser does (it resolves at once in headless
// Chromium, so the button is pressed only if the page is still waiting);
// "button" hides conditional UI so the modal ceremony behind the button runs.
func TestBrowserSetupAndSignIn(t *testing.T) {
	exe := findChromium(t)
	for _, mode := range []string{"autofill", "button"} {
		t.Run(mode, func(t *testing.T) { testBrowserSignIn(t, exe, mode == "autofill") })
	}
}

func testBrowserSignIn(t *testing.T, exe string, autofill bool) {
	app := newTestApp(t)
	demo := startDemoRP(t, app)
	user, setupURL := app.newUser(browserUsername, false)
	c := newChrome(t, exe, true)
	if !autofill {
		if _, err := chromedp.Call(c.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noAutofillJS}); err != nil {
			t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
		}
	}

	// 1. The setup link: create a discoverable passkey in the browser.
	c.setUpPasskey(setupURL, "Headless Chromium")
	creds := c.credentials()
	if len(creds) != 1 {
		c.fatalf("virtual authenticator holds %d credentials, want 1", len(creds))
	}
	if !creds[0].IsResidentCredential {
		c.fatalf("credential is not discoverable (resident)")
	}
	if creds[0].RpID != "localhost" {
		c.fatalf("credential RP ID = %q, want localhost", creds[0].RpID)
	}
	stored, err := app.db.CredentialsByUser(context.Background(), user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 {
		t.Fatalf("user has %d stored credentials after setup, want 1", len(stored))
	}
	if !bytes.Equal(stored[0].CredentialID, creds[0].CredentialID) {
		t.Fatalf("stored credential ID %x differs from the authenticator's %x", stored[0].CredentialID, creds[0].CredentialID)
	}
	if stored[0].Name != "Headless Chromium" {
		t.Errorf("stored passkey name = %q, want %q", stored[0].Name, "Headless Chromium")
	}
	if !stored[0].UserVerified {
		t.Errorf("stored credential has UserVerified false after a UV registration")
	}
	if stored[0].LastUsedAt != nil {
		t.Errorf("LastUsedAt = %v before any sign-in", stored[0].LastUsedAt)
	}

	// 2. The relying app sends the browser to Latchkey's sign-in page.
	c.do("start sign-in at the demo app",
		chromedp.Navigate(demo+"/"),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin")),
	)

	// 3. Sign in with the passkey. Conditional UI may already have signed the
	// user in by itself (it resolves at once in headless Chromium); otherwise
	// press the button, once. Either way the browser must end up back at the
	// demo app, signed in.
	var (
		s       pageState
		clicked bool
		sawPage bool
	)
	for {
		if err := c.ctx.Err(); err != nil {
			c.fatalf("sign-in did not complete (last page %s, status %q): %v", s.Href, s.Status, err)
		}
		var err error
		s, err = c.state()
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if u, ok := sameOrigin(s.Href, app.issuer); ok && u.Path == "/login" {
			sawPage = true
			if strings.Contains(s.StatusKind, "error") {
				c.fatalf("sign-in page reports an error: %q", s.Status)
			}
			if !clicked && s.Ready == "complete" && s.Button {
				// A failed click (the page navigated away meanwhile) is harmless.
				_ = chromedp.Do(c.ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("passkey-signin")?.click()`))
				clicked = true
			}
		}
		if u, ok := sameOrigin(s.Href, demo); ok {
			if u.Path == "/" && strings.Contains(s.Text, "Signed in as") {
				break
			}
			if s.DemoError != "" {
				c.fatalf("demo app shows an error at %s", s.Href)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("signed in (saw the sign-in page: %v, clicked the button: %v)", sawPage, clicked)
	if !autofill && !clicked {
		c.fatalf("signed in without pressing the button although autofill was off")
	}

	signedIn, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.ID("signed-in")))
	if err != nil {
		c.fatalf("read #signed-in: %v", err)
	}
	// The demo app names the user by the ID token's preferred_username and
	// falls back to sub; Latchkey puts profile claims only in userinfo when
	// an access token is issued (OpenID Connect Core §5.4), so accept both.
	signedIn = strings.TrimSpace(signedIn)
	if signedIn != "Signed in as "+browserUsername {
		c.fatalf("demo app says %q, want %q", signedIn, "Signed in as "+browserUsername)
	}
	if !strings.Contains(s.Text, browserUsername) {
		c.fatalf("demo app page does not show the username %q", browserUsername)
	}
	raw, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.ID("userinfo")))
	if err != nil {
		c.fatalf("read #userinfo: %v", err)
	}
	var info struct {
		Sub               string `json:"sub"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
	}
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		c.fatalf("demo app's userinfo is not JSON: %v\n%s", err, raw)
	}
	if info.Sub != user.ID || info.PreferredUsername != browserUsername || info.Email != user.Email {
		c.fatalf("userinfo = %+v, want sub %q, preferred_username %q, email %q", info, user.ID, browserUsername, user.Email)
	}

	// 4. The sign-in was recorded against the passkey.
	stored, err = app.db.CredentialsByUser(context.Background(), user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 {
		t.Fatalf("user has %d stored credentials, want 1", len(stored))
	}
	if stored[0].LastUsedAt == nil {
		t.Errorf("LastUsedAt not written after sign-in")
	}
	after := c.credentials()
	if len(after) != 1 {
		c.fatalf("virtual authenticator holds %d credentials after sign-in, want 1", len(after))
	}
	if after[0].SignCount > 0 {
		if stored[0].SignCount == 0 || float64(stored[0].SignCount) > after[0].SignCount {
			t.Errorf("stored sign count %d, authenticator counter %v: not written back", stored[0].SignCount, after[0].SignCount)
		}
	}
}

func TestBrowserSignInRefusedWithoutUV(t *testing.T) {
	exe := findChromium(t)
	app := newTestApp(t)
	user, setupURL := app.newUser(browserUsername, false)

	// The relying party's callback: a tiny real listener that records hits.
	var (
		mu   sync.Mutex
		hits []string
	)
	redirect := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" {
			mu.Lock()
			hits = append(hits, r.URL.String())
			mu.Unlock()
		}
		http.NotFound(w, r)
	})) + "/callback"
	client, secret := app.newClient(redirect)
	authURL, _ := app.newRP(client.ID, secret, redirect).authURL()

	c := newChrome(t, exe, true)
	c.setUpPasskey(setupURL, "")
	if n := len(c.credentials()); n != 1 {
		c.fatalf("virtual authenticator holds %d credentials, want 1", n)
	}
	// From now on the user cannot be verified (wrong PIN, no fingerprint).
	if _, err := chromedp.Call(c.ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: c.authID, IsUserVerified: false}); err != nil {
		c.fatalf("WebAuthn.setUserVerified: %v", err)
	}

	c.do("open the sign-in page",
		chromedp.Navigate(authURL),
		chromedp.WaitReady(chromedp.ID("passkey-signin")),
	)
	var (
		s   pageState
		err error
	)
	clicked := false
	for {
		if err := c.ctx.Err(); err != nil {
			c.fatalf("no error shown on the sign-in page (last page %s, status %q): %v", s.Href, s.Status, err)
		}
		s, err = c.state()
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		u, ok := sameOrigin(s.Href, app.issuer)
		if !ok || u.Path != "/login" {
			c.fatalf("browser left the sign-in page for %s", s.Href)
		}
		if strings.Contains(s.StatusKind, "error") && s.Status != "" {
			break
		}
		if !clicked && s.Ready == "complete" {
			c.do("press the sign-in button", chromedp.Click(chromedp.ID("passkey-signin")))
			clicked = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("sign-in page says: %q", s.Status)

	// Give a wrongly accepted sign-in time to redirect, then check nothing moved.
	time.Sleep(500 * time.Millisecond)
	s, err = c.state()
	if err != nil {
		c.fatalf("read page: %v", err)
	}
	if u, ok := sameOrigin(s.Href, app.issuer); !ok || u.Path != "/login" {
		c.fatalf("browser left the sign-in page for %s", s.Href)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 0 {
		t.Errorf("relying party callback was reached: %v", hits)
	}
	stored, err := app.db.CredentialsByUser(context.Background(), user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].LastUsedAt != nil {
		t.Errorf("credential marked as used after a refused sign-in: %+v", stored)
	}
}

// TestBrowserSignInRetry: the page's first attempt answers the challenge
// it carries (passkeys/bound.go); that answer is refused (the account is
// disabled), which uses the challenge up, so the next press of the button
// must start a new ceremony (POST /login/passkey/begin) and succeed once
// the account is enabled again. Reusing the used-up challenge would be
// refused as "no longer valid".
func TestBrowserSignInRetry(t *testing.T) {
	exe := findChromium(t)
	app := newTestApp(t)
	demo := startDemoRP(t, app)
	user, setupURL := app.newUser(browserUsername, false)
	c := newChrome(t, exe, true)
	if _, err := chromedp.Call(c.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noAutofillJS}); err != nil {
		t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	c.setUpPasskey(setupURL, "Headless Chromium")
	ctx := context.Background()
	if err := app.db.SetUserDisabled(ctx, user.ID, true); err != nil {
		t.Fatal(err)
	}
	c.do("start sign-in at the demo app",
		chromedp.Navigate(demo+"/"),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("passkey-signin")),
	)
	press := func() {
		if err := chromedp.Do(c.ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("passkey-signin").click()`)); err != nil {
			c.fatalf("press the sign-in button: %v", err)
		}
	}
	// waitFor polls the page until done says so.
	waitFor := func(what string, done func(pageState) bool) pageState {
		for {
			if err := c.ctx.Err(); err != nil {
				c.fatalf("%s: %v", what, err)
			}
			if s, err := c.state(); err == nil && done(s) {
				return s
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	press()
	s := waitFor("the refusal", func(s pageState) bool { return strings.Contains(s.StatusKind, "error") })
	if u, ok := sameOrigin(s.Href, app.issuer); !ok || u.Path != "/login" {
		c.fatalf("refused sign-in left the page: %s", s.Href)
	}
	evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventSignInFailed, Limit: 1})
	if len(evs) != 1 || evs[0].Detail["reason"] != "user_disabled" {
		c.fatalf("refusal audited as %+v, want user_disabled", evs)
	}
	if err := app.db.SetUserDisabled(ctx, user.ID, false); err != nil {
		t.Fatal(err)
	}
	refused := s.Status
	press()
	s = waitFor("the retried sign-in", func(s pageState) bool {
		u, ok := sameOrigin(s.Href, demo)
		return ok && u.Path == "/" && strings.Contains(s.Text, "Signed in as") ||
			strings.Contains(s.StatusKind, "error") && s.Status != refused
	})
	if u, ok := sameOrigin(s.Href, demo); !ok || u.Path != "/" {
		c.fatalf("retry after a refusal did not sign in: %s, status %q", s.Href, s.Status)
	}
}
