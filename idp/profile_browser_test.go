package idp

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/models"
)

// chromeNoAutofill is a Chromium whose sign-in pages start a passkey
// ceremony only from the button.
func chromeNoAutofill(t *testing.T, exe string) *chrome {
	t.Helper()
	c := newChrome(t, exe, true)
	if _, err := chromedp.Call(c.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noAutofillJS}); err != nil {
		t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	return c
}

// accountSignInChrome signs c in on the account page.
func accountSignInChrome(c *chrome, issuer string) {
	c.t.Helper()
	c.open(issuer + "/account")
	c.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	c.signInOn(issuer, "/account", func(s pageState) bool {
		u, ok := sameOrigin(s.Href, issuer)
		return ok && u.Path == "/account" && strings.Contains(s.Text, "Signed in as")
	})
}

// TestBrowserProfileEmailChange: in Chromium, a user changes their name,
// then their email address; the verification link is read from Mailpit,
// followed and confirmed, and the account page shows the new address; the
// old address got both notices.
func TestBrowserProfileEmailChange(t *testing.T) {
	exe := findChromium(t)
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	shots := artifactDir(t)
	_, setup := app.newUser("lena", false)

	c := chromeNoAutofill(t, exe)
	c.setUpPasskey(setup, "Lena laptop")
	accountSignInChrome(c, app.issuer)
	c.expectText("#email-current", "lena@example.com")
	c.expectText("#sign-ins", "Lena laptop")

	c.doT("change the name",
		chromedp.SetValue(chromedp.ID("display-name"), "Lena Lindqvist"),
		chromedp.Click(chromedp.ID("save-name")),
	)
	c.waitFor("the name saved", `document.body.innerText.includes("Your name was saved.")`)
	if v := c.value("display-name"); v != "Lena Lindqvist" {
		t.Fatalf("name field = %q", v)
	}

	c.doT("ask for a new address",
		chromedp.SendKeys(chromedp.ID("new-email"), "lena@new.example.org"),
		chromedp.Click(chromedp.ID("change-email")),
	)
	c.waitFor("the link sent", `document.body.innerText.includes("We sent a link to the new address")`)
	c.expectText("#email-current", "lena@example.com")
	c.screenshot(shots, "email-01-sent")
	noticeTo(t, mp, "lena@example.com", "A change of your Latchkey email address was requested", "lena@new.example.org")

	link := emailChangeLink(t, mp, "lena@new.example.org", 1)
	c.checkPage(shots, "email-verify", link) // axe and layout; opening changes nothing
	c.open(link)
	c.doT("confirm", chromedp.WaitVisible(chromedp.ID("email-confirm")), chromedp.Click(chromedp.ID("email-confirm")))
	c.waitFor("the change done", `!!document.getElementById("email-changed")`)
	c.expectText("#email-changed", "lena@new.example.org")
	c.screenshot(shots, "email-02-confirmed")
	c.doT("back to the account", chromedp.Click(chromedp.ID("to-account")))
	c.waitFor("the account page", `!!document.getElementById("email-current")`)
	c.expectText("#email-current", "lena@new.example.org")
	c.expectText("#email-current", "verified")
	c.screenshot(shots, "email-03-account")
	noticeTo(t, mp, "lena@example.com", "Your Latchkey email address was changed", "lena@new.example.org")

	// The link worked once.
	c.open(link)
	c.expectText("body", "already used")
}

// TestBrowserLauncher: the account page shows the applications the user
// may open, with the logo served from our origin (the CSP's img-src
// 'self' lets it load), and a launch link.
func TestBrowserLauncher(t *testing.T) {
	exe := findChromium(t)
	app := newTestApp(t)
	ctx := context.Background()
	shots := artifactDir(t)
	logo := launcherPNG(t, 48, 48)
	logos, _ := logoServer(t, logo)
	cl, _ := app.newClient("https://notes.example/cb", func(c *models.Client) {
		c.Name, c.LaunchURL, c.LogoURL = "Team notes", "https://notes.example/", logos+"/logo.png"
	})
	if err := app.db.SetClientLogo(ctx, cl.ID, logo, "image/png"); err != nil {
		t.Fatal(err)
	}
	app.newClient("https://hr.example/cb", func(c *models.Client) {
		c.Name, c.LaunchURL, c.AllowedGroups = "HR portal", "https://hr.example/", models.StringList{"hr"}
	})
	_, setup := app.newUser("mika", false)

	c := chromeNoAutofill(t, exe)
	c.setUpPasskey(setup, "Mika phone")
	accountSignInChrome(c, app.issuer)
	c.expectText("#launcher", "Team notes")
	if strings.Contains(c.text("#launcher"), "HR portal") {
		t.Fatal("the launcher shows an application of another group")
	}
	c.waitFor("the logo loaded", `(() => { const i = document.querySelector('#launcher a[href="https://notes.example/"] img');
		return !!i && i.complete && i.naturalWidth === 48 && i.getAttribute("src").startsWith("/apps/`+cl.ID+`/logo?v="); })()`)
	c.screenshot(shots, "launcher-01")
	c.checkPage(shots, "account-launcher", app.issuer+"/account") // axe and layout of the new sections
}
