package idp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/models"
)

// acceptLanguage makes the tab send this Accept-Language on every request.
func (c *chrome) acceptLanguage(v string) {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": v}}); err != nil {
		c.fatalf("Network.setExtraHTTPHeaders: %v", err)
	}
}

// expectPage waits until the page is in lang (<html lang>) and the text of
// css contains want.
func (c *chrome) expectPage(lang, css, want string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got, gotLang string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		gotLang, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
		got, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
		cancel()
		if gotLang == lang && strings.Contains(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.fatalf("page in %q with %s %q, want %q containing %q", gotLang, css, got, lang, want)
}

// TestBrowserLanguages: the sign-in and account pages in English, German
// and French, chosen by Accept-Language, by the ui_locales of a real
// /authorize an RP started (OIDC Core §3.1.2.1), by the switcher, and by
// the saved preference, which wins over both ui_locales and
// Accept-Language. The pages keep the 390 px layout and pass axe in
// German and French.
func TestBrowserLanguages(t *testing.T) {
	exe := findChromium(t)
	app := newTestApp(t)
	ctx := context.Background()
	shots := artifactDir(t)
	client, secret := app.newClient("https://app.example.com/callback", func(c *models.Client) { c.Name = "Expense reports" })
	rp := app.newRP(client.ID, secret, "https://app.example.com/callback", "openid")
	lena, link := app.newUser("lena", false)

	// Accept-Language alone: German.
	anon := newChromeFor(t, exe, true, 3*time.Minute)
	anon.acceptLanguage("de-DE,de;q=0.9,en;q=0.5")
	plain, _ := rp.authURL()
	anon.do("start a sign-in without ui_locales", chromedp.Navigate(plain))
	anon.expectPage("de", "h1", "Bei Expense reports anmelden")
	anon.expectPage("de", "#passkey-signin", "Mit Passkey anmelden")
	anon.screenshot(shots, "lang-login-de")

	// ui_locales wins over Accept-Language: French (fr-CA matches fr).
	withUI, _ := rp.authURL(oauth2.SetAuthURLParam("ui_locales", "fr-CA en"))
	anon.do("start a sign-in with ui_locales=fr-CA en", chromedp.Navigate(withUI))
	anon.expectPage("fr", "h1", "Connexion à Expense reports")
	anon.expectPage("fr", "#lost-passkey", "Clé d'accès perdue\u00a0?")
	frLogin := anon.eval(`location.href`)
	anon.checkPage(shots, "login-fr", frLogin)

	// The switcher: English, on the same sign-in page, over ui_locales.
	anon.doT("switch to English", chromedp.Click(chromedp.ID("lang-en")))
	anon.expectPage("en", "h1", "Sign in to Expense reports")
	if got := anon.eval(`location.href`); got != frLogin {
		t.Errorf("the switcher went to %s, want back to %s", got, frLogin)
	}
	anon.expectPage("en", "#lang-en[aria-current]", "English")

	// A French browser sets up a passkey and opens its account page.
	lc := newChromeFor(t, exe, true, 3*time.Minute)
	lc.acceptLanguage("fr-FR,fr;q=0.9")
	lc.do("create a passkey on the French setup page",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("passkey-create")),
		chromedp.SendKeys(chromedp.ID("passkey-name"), "Portable"),
		chromedp.Click(chromedp.ID("passkey-create")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	lc.expectPage("fr", "#done", "Votre clé d'accès est prête")
	lc.do("open the account page", chromedp.Navigate(app.issuer+"/account"))
	lc.signInOn(app.issuer, "/account", func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.issuer)
		return ok && u.Path == "/account" && strings.Contains(s.Text, "Portable")
	})
	lc.expectPage("fr", "h1", "Votre compte")
	lc.expectPage("fr", "#pk-h", "Clés d'accès")
	lc.screenshot(shots, "lang-account-fr")

	// The switcher on the account page saves German as lena's preference.
	lc.doT("switch to German", chromedp.Click(chromedp.ID("lang-de")))
	lc.expectPage("de", "h1", "Ihr Konto")
	lc.expectPage("de", "#s-h", "Sitzungen")
	if loc, err := app.db.UserLocale(ctx, lena.ID); err != nil || loc != "de" {
		t.Fatalf("saved language = %q, %v; want de", loc, err)
	}
	lc.checkPage(shots, "account-de", app.issuer+"/account")

	// The saved preference wins over ui_locales and Accept-Language, with
	// the switcher's cookie gone: a French browser asks for French and
	// gets German on the sign-in page (prompt=login shows it to a
	// signed-in user) and on the account page.
	if _, err := chromedp.Call(lc.ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: "latchkey_lang", URL: app.issuer + "/"}); err != nil {
		t.Fatalf("Network.deleteCookies: %v", err)
	}
	// Without presence the virtual passkey cannot answer the page's
	// autofill request, which would otherwise sign in and leave the page
	// before it is read.
	if _, err := chromedp.Call(lc.ctx, webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: lc.authID, Enabled: false}); err != nil {
		t.Fatalf("WebAuthn.setAutomaticPresenceSimulation: %v", err)
	}
	again, _ := rp.authURL(oauth2.SetAuthURLParam("ui_locales", "fr"), oauth2.SetAuthURLParam("prompt", "login"))
	lc.do("start a sign-in asking for French", chromedp.Navigate(again))
	lc.expectPage("de", "h1", "Bei Expense reports anmelden")
	lc.screenshot(shots, "lang-login-saved-de")
	lc.do("reopen the account page", chromedp.Navigate(app.issuer+"/account"))
	lc.expectPage("de", "h1", "Ihr Konto")

	// Back to English, saved too.
	lc.doT("switch to English", chromedp.Click(chromedp.ID("lang-en")))
	lc.expectPage("en", "h1", "Your account")
	if loc, _ := app.db.UserLocale(ctx, lena.ID); loc != "en" {
		t.Fatalf("saved language = %q, want en", loc)
	}
}

// TestBrowserBrandedEmail: a branded invitation as a mail client shows it
// (Mailpit's rendering of the HTML part, inline logo resolved) at 390 and
// 1280 px: the logo loads from its inline part, the product name and the
// accent colour show, and nothing scrolls sideways. Screenshots are kept.
func TestBrowserBrandedEmail(t *testing.T) {
	exe := findChromium(t)
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	ctx := context.Background()
	shots := artifactDir(t)
	if err := app.db.SaveBranding(ctx, &models.Branding{ProductName: "Acme ID", Accent: "#0b6e4f", Logo: testPNG(t, 120, 40), LogoType: "image/png"}); err != nil {
		t.Fatal(err)
	}
	if err := app.srv.pages.Brand.Reload(ctx, app.db); err != nil {
		t.Fatal(err)
	}
	u := &models.User{Username: "hanna", Email: "hanna@example.com", DisplayName: "Hanna Hell", Locale: "de"}
	if err := app.db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := Invite(ctx, app.db, app.srv.Mailer(), app.issuer, u, 24*time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	m := mp.Wait(t, "hanna@example.com", 1, 10*time.Second)[0]
	if m.Subject != "Richten Sie Ihren Passkey für Acme ID ein" {
		t.Fatalf("subject = %q, want the German one", m.Subject)
	}
	c := newChromeFor(t, exe, true, 2*time.Minute)
	for _, w := range layoutWidths {
		c.do(fmt.Sprintf("open the email at %d px", w),
			chromedp.EmulateViewport(w, 900),
			chromedp.Navigate("http://"+mp.HTTPAddr+"/view/"+m.ID+".html"),
			chromedp.WaitReady(chromedp.CSS("body")),
		)
		c.waitFor("the inline logo to load", `(() => { const i = document.querySelector("#brand img"); return !!i && i.complete && i.naturalWidth === 120; })()`)
		c.expectText("#brand", "Acme ID")
		c.expectText("a[href*='/setup/']", "Meinen Passkey erstellen")
		if bg := c.eval(`getComputedStyle(document.querySelector("a[href*='/setup/']")).backgroundColor`); bg != "rgb(11, 110, 79)" {
			t.Errorf("the button's colour is %s, want the accent #0b6e4f", bg)
		}
		if over := c.eval(`String(document.documentElement.scrollWidth > document.documentElement.clientWidth)`); over != "false" {
			t.Errorf("the email scrolls sideways at %d px", w)
		}
		c.screenshot(shots, fmt.Sprintf("mail-invitation-de-%d", w))
	}
}
