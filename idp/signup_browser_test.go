package idp

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
)

// noAutofillChrome is a Chromium tab whose sign-in pages start no
// conditional mediation, so only the button signs in.
func noAutofillChrome(t *testing.T, exe string) *chrome {
	c := newChrome(t, exe, true)
	if _, err := chromedp.Call(c.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noAutofillJS}); err != nil {
		t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	return c
}

func atAccountOf(issuer string) func(pageState) bool {
	return func(s pageState) bool {
		u, ok := sameOrigin(s.Href, issuer)
		return ok && u.Path == "/account" && strings.Contains(s.Text, "Signed in as")
	}
}

// signUpThrough fills the sign-up form shown at the tab's page and waits
// for the answer.
func (c *chrome) signUpThrough(email, name string) {
	c.t.Helper()
	c.fill("signup-email", email)
	if name != "" {
		c.fill("signup-name", name)
	}
	c.doT("send the sign-up form", chromedp.Click(chromedp.ID("signup-send")))
}

// TestBrowserSignupPolicies: in Chromium, "Create an account" on the
// sign-in page under --signup=open, and a sign-up link under invite, lead
// to a verification email (read from Mailpit) whose link creates the
// first passkey, which then signs in; an address of another domain and a
// used-up link are refused with a message; under closed the sign-in page
// offers no sign-up and /signup refuses.
func TestBrowserSignupPolicies(t *testing.T) {
	exe := findChromium(t)
	mp := mailtest.Start(t)
	shots := artifactDir(t)

	t.Run("open", func(t *testing.T) {
		app := newTestApp(t, withMailpit(t, mp), func(c *Config) { c.Signup, c.SignupDomains = SignupOpen, []string{"example.com"} })
		runMailJobs(t, app.srv)
		c := noAutofillChrome(t, exe)
		c.open(app.issuer + "/account")
		c.doT("follow Create an account",
			chromedp.WaitVisible(chromedp.ID("create-account")),
			chromedp.Click(chromedp.ID("create-account")),
			chromedp.WaitVisible(chromedp.ID("signup-form")))
		c.signUpThrough("eve@elsewhere.org", "")
		c.doT("wait for the refusal", chromedp.WaitVisible(chromedp.ID("form-error")))
		c.expectText("#form-error", "cannot sign up here")
		c.screenshot(shots, "signup-open-01-wrong-domain")
		c.signUpThrough("nora@example.com", "Nora Lind")
		c.doT("wait for the answer", chromedp.WaitVisible(chromedp.ID("signup-sent")))
		c.screenshot(shots, "signup-open-02-sent")
		msg := noticeTo(t, mp, "nora@example.com", "Confirm your address for Latchkey", "Hello Nora Lind")
		c.setUpPasskey(mailedLinkIn(t, msg), "Nora laptop")
		c.open(app.issuer + "/account")
		c.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
		c.signInOn(app.issuer, "/account", atAccountOf(app.issuer))
		c.expectText("#passkeys", "Nora laptop")
		c.screenshot(shots, "signup-open-03-signed-in")
		us := usersWithEmail(t, app.db, "nora@example.com")
		if len(us) != 1 || !us[0].EmailVerified {
			t.Fatalf("account after sign-up: %+v", us)
		}
	})

	t.Run("invite", func(t *testing.T) {
		app := newTestApp(t, withMailpit(t, mp), func(c *Config) { c.Signup = SignupInvite })
		runMailJobs(t, app.srv)
		raw, _, err := app.db.CreateSignupLink(context.Background(), 1, 72*time.Hour, "test")
		if err != nil {
			t.Fatal(err)
		}
		c := noAutofillChrome(t, exe)
		c.open(app.issuer + "/signup")
		c.expectText("#signup-invite-only", "needs a sign-up link")
		c.open(app.issuer + "/signup/" + raw)
		c.signUpThrough("ivo@anywhere.net", "Ivo")
		c.doT("wait for the answer", chromedp.WaitVisible(chromedp.ID("signup-sent")))
		c.setUpPasskey(mailedLinkIn(t, noticeTo(t, mp, "ivo@anywhere.net", "Confirm your address for Latchkey")), "Ivo phone")
		c.open(app.issuer + "/account")
		c.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
		c.signInOn(app.issuer, "/account", atAccountOf(app.issuer))
		c.expectText("#passkeys", "Ivo phone")
		// The link allowed one sign-up.
		if st := c.open(app.issuer + "/signup/" + raw); st != 410 {
			t.Fatalf("used-up link = %d", st)
		}
		c.expectText("body", "used as often as it allows")
		c.screenshot(shots, "signup-invite-used-up")
	})

	t.Run("closed", func(t *testing.T) {
		app := newTestApp(t, withMailpit(t, mp))
		c := noAutofillChrome(t, exe)
		c.open(app.issuer + "/account")
		c.doT("wait for the sign-in page", chromedp.WaitVisible(chromedp.ID("lost-passkey")))
		if n := c.eval(`String(document.querySelectorAll("#create-account").length)`); n != "0" {
			t.Fatal("the sign-in page offers sign-up while it is closed")
		}
		if st := c.open(app.issuer + "/signup"); st != 403 {
			t.Fatalf("/signup = %d", st)
		}
		c.expectText("#signup-closed", "Sign-up is closed here")
	})
}

// TestBrowserRecoveryCodeToNewPasskey: a signed-in user generates
// recovery codes on the account page; on another device "Lost your
// passkey?" with the username and one code leads to the setup page, where
// a new passkey is created and signs in; the owner is told by email; the
// code does not work twice.
func TestBrowserRecoveryCodeToNewPasskey(t *testing.T) {
	exe := findChromium(t)
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	shots := artifactDir(t)
	_, setup := app.newUser("cora", false)

	first := noAutofillChrome(t, exe)
	first.setUpPasskey(setup, "Old phone")
	first.open(app.issuer + "/account")
	first.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	first.signInOn(app.issuer, "/account", atAccountOf(app.issuer))
	first.doT("generate recovery codes",
		chromedp.WaitVisible(chromedp.ID("codes-generate")),
		chromedp.Click(chromedp.ID("codes-generate")),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	first.screenshot(shots, "codes-01-shown")
	codes := strings.Fields(first.text("#recovery-codes"))
	if len(codes) != 10 {
		t.Fatalf("recovery codes shown: %q", codes)
	}
	// "Print these codes" prints; the printed page is the codes and their
	// explanation, without header, footer, language switcher or buttons.
	first.expectText("#codes-account", "For the Latchkey account cora.")
	first.expectText("#codes-print", "Print these codes")
	first.do("count prints", chromedp.Evaluate[chromedp.Void](`window.__prints = 0; window.print = () => { window.__prints++; };`))
	first.doT("print", chromedp.Click(chromedp.ID("codes-print")))
	if got := first.eval(`String(window.__prints)`); got != "1" {
		t.Fatalf("the Print button called window.print %s times", got)
	}
	if _, err := chromedp.Call(first.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatalf("Emulation.setEmulatedMedia: %v", err)
	}
	shown := `(sel) => { const e = document.querySelector(sel); return !!e && getComputedStyle(e).display !== "none" && e.getClientRects().length > 0; }`
	for sel, want := range map[string]bool{"#recovery-codes": true, "h1": true, "#codes-account": true, ".top": false, ".foot": false, "#language-switcher": false, "#codes-print": false, "#codes-done": false} {
		if got := first.eval(`String((` + shown + `)(` + strconv.Quote(sel) + `))`); got != strconv.FormatBool(want) {
			t.Errorf("printed page: %s shown = %s, want %v", sel, got, want)
		}
	}
	if got := first.eval(`getComputedStyle(document.querySelector("#recovery-codes code")).color`); got != "rgb(0, 0, 0)" {
		t.Errorf("printed codes are %s, want black", got)
	}
	first.screenshot(shots, "codes-01-print")
	if _, err := chromedp.Call(first.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatalf("Emulation.setEmulatedMedia: %v", err)
	}

	second := noAutofillChrome(t, exe)
	second.open(app.issuer + "/account")
	second.doT("open Lost your passkey?",
		chromedp.WaitVisible(chromedp.ID("lost-passkey")),
		chromedp.Click(chromedp.ID("lost-passkey")),
		chromedp.WaitVisible(chromedp.ID("recover-code-form")))
	second.fill("recover-who", "cora")
	second.fill("recover-code", codes[3])
	second.doT("use the code",
		chromedp.Click(chromedp.ID("recover-code-use")),
		chromedp.WaitVisible(chromedp.ID("passkey-create")))
	setupURL := second.eval(`location.href`)
	if !strings.Contains(setupURL, "/setup/") {
		t.Fatalf("after the code the browser is at %s", setupURL)
	}
	second.setUpPasskey(setupURL, "New laptop")
	second.open(app.issuer + "/account")
	second.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	second.signInOn(app.issuer, "/account", atAccountOf(app.issuer))
	second.expectText("#passkeys", "Old phone")
	second.expectText("#passkeys", "New laptop")
	second.expectText("#codes-left", "9")
	second.screenshot(shots, "codes-02-new-passkey")
	noticeTo(t, mp, "cora@example.com", "A recovery code of your Latchkey account was used", "Unused codes left: 9")

	// The code worked once.
	third := noAutofillChrome(t, exe)
	third.open(app.issuer + "/recover")
	third.fill("recover-who", "cora")
	third.fill("recover-code", codes[3])
	third.doT("reuse the code", chromedp.Click(chromedp.ID("recover-code-use")), chromedp.WaitVisible(chromedp.ID("code-error")))
	third.expectText("#code-error", "already used")
}

// TestBrowserSignupPagesLayout: the pages of sign-up and recovery codes
// (the form, a sign-up link's error page, "Lost your passkey?" with the
// code form, the account page with its codes section, the console's
// Sign-up page) do not scroll sideways at 390 and 1280 px and axe finds
// no serious or critical problem on them; the codes shown once (the
// answer to a POST) do not scroll sideways either.
func TestBrowserSignupPagesLayout(t *testing.T) {
	exe := findChromium(t)
	mp := mailtest.Start(t)
	app := newAdminApp(t, withMailpit(t, mp), func(c *Config) { c.Signup, c.SignupDomains = SignupOpen, []string{"example.com"} })
	shots := artifactDir(t)
	_, adminLink := app.newUser("root", true)
	_, userLink := app.newUser("lena", false)
	if _, _, err := app.db.CreateSignupLink(context.Background(), 3, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}

	admin := newChromeFor(t, exe, true, 5*time.Minute)
	admin.setUpPasskey(adminLink, "Admin laptop")
	admin.do("open the console", chromedp.Navigate(app.adminURL+"/admin"))
	admin.passkeySignInUntil(app.issuer, func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.adminURL)
		return ok && u.Path == "/admin" && strings.Contains(s.Text, "Sign-ins per day")
	})
	admin.checkPage(shots, "console-signup-links", app.adminURL+"/admin/signup-links")

	anon := newChromeFor(t, exe, true, 5*time.Minute)
	anon.checkPage(shots, "signup", app.issuer+"/signup")
	anon.checkPage(shots, "recover-with-codes", app.issuer+"/recover")
	anon.checkPage(shots, "error-signup-link", app.issuer+"/signup/lku_not-a-link")
	anon.open(app.issuer + "/signup")
	anon.signUpThrough("eve@elsewhere.org", "")
	anon.doT("wait for the refusal", chromedp.WaitVisible(chromedp.ID("form-error")))
	anon.screenshot(shots, "signup-error")

	lena := noAutofillChrome(t, exe)
	lena.setUpPasskey(userLink, "Lena phone")
	lena.open(app.issuer + "/account")
	lena.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	lena.signInOn(app.issuer, "/account", atAccountOf(app.issuer))
	lena.doT("generate recovery codes",
		chromedp.Click(chromedp.ID("codes-generate")),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	for _, w := range layoutWidths {
		lena.do("narrow", chromedp.EmulateViewport(w, 900))
		over := lena.eval(`(() => { const d = document.documentElement; return d.scrollWidth > d.clientWidth ? "wide" : ""; })()`)
		if over != "" {
			t.Errorf("the recovery codes page scrolls sideways at %d px", w)
		}
		lena.screenshot(shots, "recovery-codes-"+strconv.FormatInt(w, 10))
	}
	lena.checkPage(shots, "account-with-codes", app.issuer+"/account")
}
