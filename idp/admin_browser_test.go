package idp

// Chromium test of the admin console (docs/TESTING.md, layer 3): an admin
// who has only a browser signs in to the console with a passkey, creates a
// user and reads the setup link, registers an application; the user sets
// up a passkey and signs in to that application (cmd/demo-rp); the admin
// sees the sign-in in the audit log. Screenshots of the main pages go to
// $LATCHKEY_ARTIFACTS/screenshots (or a temporary folder).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// artifactDir is where screenshots go: $LATCHKEY_ARTIFACTS/screenshots if
// set (CI keeps it), else a test temporary folder.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LATCHKEY_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (c *chrome) screenshot(dir, name string) {
	c.t.Helper()
	// A screenshot right after a navigation can meet a document that is
	// not laid out yet ("0 width"): wait for its body first.
	if err := chromedp.Do(c.ctx, chromedp.WaitVisible(chromedp.CSS("body"))); err != nil {
		c.fatalf("screenshot %s: wait for the page: %v", name, err)
	}
	png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func (c *chrome) value(id string) string {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		c.fatalf("read #%s: %v", id, err)
	}
	return v
}

// passkeySignInUntil drives the issuer's sign-in page (autofill may sign
// in by itself; else the button is pressed once) until done reports true.
func (c *chrome) passkeySignInUntil(issuer string, done func(pageState) bool) {
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
		if u, ok := sameOrigin(s.Href, issuer); ok && u.Path == "/login" {
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

// startDemoRPFor runs cmd/demo-rp on base with a client registered in the
// console.
func startDemoRPFor(t *testing.T, issuer, base string, port int, clientID, secret string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo-rp")
	build := exec.Command("go", "build", "-o", bin, "./cmd/demo-rp")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/demo-rp: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	cmd := exec.CommandContext(ctx, bin, "--issuer", issuer, "--client-id", clientID, "--client-secret", secret,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--redirect-url", base+"/callback")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		err := <-exited // killed by cancel: an error here is expected
		if t.Failed() {
			t.Logf("demo-rp (%v) output:\n%s", err, logs.String())
		}
	})
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if resp, err := hc.Get(base + "/"); err == nil {
			_ = resp.Body.Close() // polling: only the status is checked
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo-rp did not start on %s\n%s", base, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBrowserAdminConsole(t *testing.T) {
	exe := findChromium(t)
	app := newAdminApp(t)
	shots := artifactDir(t)
	_, adminLink := app.newUser("root", true)

	// 1. The admin creates their passkey and signs in to the console.
	admin := newChrome(t, exe, true)
	admin.setUpPasskey(adminLink, "Admin laptop")
	admin.do("open the console", chromedp.Navigate(app.adminURL+"/admin"))
	admin.passkeySignInUntil(app.issuer, func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.adminURL)
		return ok && u.Path == "/admin" && strings.Contains(s.Text, "Sign-ins per day")
	})
	admin.screenshot(shots, "01-overview")

	// 2. Create a user; the setup link is shown once with a QR code.
	admin.do("create a user",
		chromedp.Navigate(app.adminURL+"/admin/users/new"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "bad name!"),
		chromedp.Click(chromedp.ID("create-user")),
		chromedp.WaitVisible(chromedp.ID("form-error")),
	)
	admin.screenshot(shots, "02-user-form-error")
	admin.do("fix the form",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("username").value = ""`),
		chromedp.SendKeys(chromedp.ID("username"), browserUsername),
		chromedp.SendKeys(chromedp.ID("email"), "alice@example.com"),
		chromedp.SendKeys(chromedp.ID("display_name"), "Alice"),
		chromedp.Click(chromedp.ID("create-user")),
		chromedp.WaitVisible(chromedp.ID("setup-qr")),
	)
	setupURL := admin.value("setup-link")
	if !strings.HasPrefix(setupURL, app.issuer+"/setup/") {
		admin.fatalf("setup link %q", setupURL)
	}
	admin.screenshot(shots, "03-setup-link")

	// 3. Register the relying application in the console.
	port := freePort(t)
	demo := fmt.Sprintf("http://localhost:%d", port)
	admin.do("register an application",
		chromedp.Navigate(app.adminURL+"/admin/clients/new"),
		chromedp.WaitVisible(chromedp.ID("client-name")),
		chromedp.SendKeys(chromedp.ID("client-name"), "Demo app"),
		chromedp.SendKeys(chromedp.ID("redirect-uris"), demo+"/callback"),
		chromedp.SendKeys(chromedp.ID("logout-uris"), demo+"/"),
	)
	admin.screenshot(shots, "04-client-form")
	admin.do("submit", chromedp.Click(chromedp.ID("save-client")), chromedp.WaitVisible(chromedp.ID("client-secret")))
	secret := admin.value("client-secret")
	clientID, err := chromedp.Run(admin.ctx, chromedp.Text(chromedp.ID("client-id")))
	if err != nil || secret == "" {
		admin.fatalf("client id %q secret %q: %v", clientID, secret, err)
	}
	admin.screenshot(shots, "05-client-secret")
	startDemoRPFor(t, app.issuer, demo, port, clientID, secret)

	// 4. The user sets up a passkey and signs in to the application.
	user := newChrome(t, exe, true)
	user.setUpPasskey(setupURL, "Alice's phone")
	user.do("start sign-in at the demo app", chromedp.Navigate(demo+"/"), chromedp.WaitVisible(chromedp.ID("signin")), chromedp.Click(chromedp.ID("signin")))
	// The application is not first-party: after the passkey the user is
	// asked to consent, once.
	user.passkeySignInUntil(app.issuer, func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.issuer)
		return ok && u.Path == "/consent"
	})
	user.screenshot(shots, "05b-consent")
	user.do("allow the application", chromedp.Click(chromedp.ID("consent-allow")))
	user.passkeySignInUntil(app.issuer, func(s pageState) bool {
		u, ok := sameOrigin(s.Href, demo)
		return ok && u.Path == "/" && strings.Contains(s.Text, "Signed in as")
	})
	user.do("open the account page", chromedp.Navigate(app.issuer+"/account"), chromedp.WaitVisible(chromedp.ID("passkeys")))
	user.screenshot(shots, "06-account")

	// 5. The admin sees the sign-in in the audit log.
	admin.do("open the audit log", chromedp.Navigate(app.adminURL+"/admin/audit?type=sign_in"), chromedp.WaitVisible(chromedp.ID("audit")))
	text, err := chromedp.Run(admin.ctx, chromedp.Text(chromedp.ID("audit")))
	if err != nil {
		admin.fatalf("read audit table: %v", err)
	}
	if !strings.Contains(text, browserUsername) || !strings.Contains(text, clientID) {
		admin.fatalf("audit log does not show %s signing in to %s:\n%s", browserUsername, clientID, text)
	}
	admin.screenshot(shots, "07-audit")
	for name, path := range map[string]string{"08-users": "/admin/users", "09-keys": "/admin/keys", "10-groups": "/admin/groups", "11-clients": "/admin/clients", "12-tokens": "/admin/tokens"} {
		admin.do("open "+path, chromedp.Navigate(app.adminURL+path), chromedp.WaitVisible(chromedp.ID("signout")))
		admin.screenshot(shots, name)
	}
	// Sign-out works.
	// #main is on the page being left too: wait for the new location.
	admin.do("sign out", chromedp.Click(chromedp.ID("signout")))
	var loc string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if l, err := chromedp.Run(admin.ctx, chromedp.Location()); err == nil {
			if loc = l; strings.HasSuffix(loc, "/admin/signed-out") {
				break
			}
		}
	}
	if !strings.HasSuffix(loc, "/admin/signed-out") {
		admin.fatalf("after sign-out at %s", loc)
	}
	t.Logf("screenshots in %s", shots)
}
