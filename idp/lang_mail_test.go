package idp

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
)

// TestBrandedInvitation: with a product name, accent colour and logo set,
// an invitation's HTML part shows all three (the logo as an inline part
// with the Content-ID the HTML refers to, byte for byte the stored logo)
// and its text part names the product; nothing remote is referenced.
func TestBrandedInvitation(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	ctx := context.Background()
	logo := testPNG(t, 120, 40)
	if err := app.db.SaveBranding(ctx, &models.Branding{ProductName: "Acme ID", Accent: "#0b6e4f", Logo: logo, LogoType: "image/png"}); err != nil {
		t.Fatal(err)
	}
	if err := app.srv.pages.Brand.Reload(ctx, app.db); err != nil {
		t.Fatal(err)
	}
	u := &models.User{Username: "bea", Email: "bea@example.com", DisplayName: "Bea Branded"}
	if err := app.db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := Invite(ctx, app.db, app.srv.Mailer(), app.issuer, u, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	m := mp.Wait(t, "bea@example.com", 1, 10*time.Second)[0]
	if m.Subject != "Set up your passkey for Acme ID" || !strings.Contains(m.Text, "invited you to Acme ID") {
		t.Errorf("the text part does not name the product: %q\n%s", m.Subject, m.Text)
	}
	for _, want := range []string{`<strong style="font-size:18px;vertical-align:middle">Acme ID</strong>`,
		`border-top:4px solid #0b6e4f`, `background:#0b6e4f;color:#ffffff`, `src="cid:` + mail.LogoCID + `"`, "expires in 1 hour"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("the HTML part lacks %q:\n%s", want, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "https://") || strings.Contains(m.HTML, "<script") || strings.Contains(m.HTML, "@import") {
		t.Errorf("the HTML part refers to remote content or a script:\n%s", m.HTML)
	}
	if len(m.Inline) != 1 || m.Inline[0].ContentID != mail.LogoCID || m.Inline[0].ContentType != "image/png" {
		t.Fatalf("inline parts = %+v, want the logo as %s", m.Inline, mail.LogoCID)
	}
	got, err := mp.PartBytes(m.ID, m.Inline[0].PartID)
	if err != nil || !bytes.Equal(got, logo) {
		t.Fatalf("the inline logo is %d bytes (%v), want the stored %d", len(got), err, len(logo))
	}

	// Without branding, Latchkey's own name and accent and no logo part.
	if err := app.db.SaveBranding(ctx, &models.Branding{}); err != nil {
		t.Fatal(err)
	}
	if err := app.srv.pages.Brand.Reload(ctx, app.db); err != nil {
		t.Fatal(err)
	}
	if _, err := Invite(ctx, app.db, app.srv.Mailer(), app.issuer, u, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	m = mp.Wait(t, "bea@example.com", 2, 10*time.Second)[0]
	if m.Subject != "Set up your passkey for Latchkey" || len(m.Inline) != 0 || strings.Contains(m.HTML, "cid:") || !strings.Contains(m.HTML, "#3b5bdb") {
		t.Errorf("unbranded invitation: %q, %d inline parts\n%s", m.Subject, len(m.Inline), m.HTML)
	}
}

// TestMailLanguage: a recovery email is in the recipient's saved language
// even when the request came in another; for a recipient who chose none
// it is in the language of the request that asked for it.
func TestMailLanguage(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	ctx := context.Background()
	greta, _ := app.newUser("greta", false)
	if err := app.db.SetUserLocale(ctx, greta.ID, "de"); err != nil {
		t.Fatal(err)
	}
	app.newUser("odile", false) // no saved language

	for _, addr := range []string{"greta@example.com", "odile@example.com"} {
		b := app.newBrowser()
		req, _ := http.NewRequest(http.MethodGet, app.issuer+"/recover", nil)
		req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if !strings.Contains(body, `<html lang="fr">`) || !strings.Contains(body, "envoyer un lien") {
			t.Fatalf("the recovery page is not French:\n%s", body)
		}
		csrf := hiddenCSRF.FindStringSubmatch(body)
		req, _ = http.NewRequest(http.MethodPost, app.issuer+"/recover", strings.NewReader(url.Values{"_csrf": {csrf[1]}, "email": {addr}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5")
		resp, err = b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "le lien expire dans 1 heure") {
			t.Fatalf("POST /recover = %d:\n%s", resp.StatusCode, body)
		}
	}
	de := mp.Wait(t, "greta@example.com", 1, 10*time.Second)[0]
	if de.Subject != "Neuen Passkey zu Ihrem Latchkey-Konto hinzufügen" || !strings.Contains(de.Text, "Hallo Greta,") ||
		!strings.Contains(oneLine(de.Text), "läuft in 1 Stunde ab") || !strings.Contains(de.HTML, `<html lang="de">`) || !strings.Contains(de.HTML, "Neuen Passkey hinzufügen</a>") {
		t.Errorf("greta's recovery email is not German:\n%s\n%s\n%s", de.Subject, de.Text, de.HTML)
	}
	fr := mp.Wait(t, "odile@example.com", 1, 10*time.Second)[0]
	if fr.Subject != "Ajoutez une nouvelle clé d'accès à votre compte Latchkey" || !strings.Contains(fr.Text, "Bonjour Odile,") ||
		!strings.Contains(oneLine(fr.Text), "expire dans 1 heure)\u00a0:") || !strings.Contains(fr.HTML, `<html lang="fr">`) {
		t.Errorf("odile's recovery email is not French:\n%s\n%s\n%s", fr.Subject, fr.Text, fr.HTML)
	}
}

// TestLanguageSwitcherRefusesBadInput: POST /language takes only a
// shipped language, a path on this origin to return to, and a CSRF token;
// anything else is an error that sets no cookie. A good choice sets the
// cookie, and the next page follows it over Accept-Language.
func TestLanguageSwitcherRefusesBadInput(t *testing.T) {
	app := newTestApp(t)
	b := app.newBrowser()
	body, _ := b.page("/recover", http.StatusOK)
	csrf := hiddenCSRF.FindStringSubmatch(body)[1]
	post := func(form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, app.issuer+"/language", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, c := range []struct {
		form url.Values
		want int
		says string
	}{
		{url.Values{"_csrf": {csrf}, "lang": {"es"}, "next": {"/recover"}}, http.StatusBadRequest, "This language is not available"},
		{url.Values{"_csrf": {csrf}, "lang": {"de-CH"}, "next": {"/recover"}}, http.StatusBadRequest, "This language is not available"},
		{url.Values{"_csrf": {csrf}, "lang": {"de"}, "next": {"https://evil.example/"}}, http.StatusBadRequest, "not on this site"},
		{url.Values{"_csrf": {csrf}, "lang": {"de"}, "next": {"//evil.example/"}}, http.StatusBadRequest, "not on this site"},
		{url.Values{"_csrf": {csrf}, "lang": {"de"}, "next": {"/\\evil.example/"}}, http.StatusBadRequest, "not on this site"},
		{url.Values{"lang": {"de"}, "next": {"/recover"}}, http.StatusForbidden, "CSRF"},
	} {
		resp := post(c.form)
		got := readBody(t, resp)
		if resp.StatusCode != c.want || !strings.Contains(got, c.says) || langCookie(resp) != nil {
			t.Errorf("POST /language %v = %d, cookies %v, want %d saying %q:\n%s", c.form, resp.StatusCode, resp.Cookies(), c.want, c.says, got)
		}
	}
	if body, _ := b.page("/recover", http.StatusOK); !strings.Contains(body, `<html lang="en">`) {
		t.Fatal("a refused choice changed the language")
	}
	resp := post(url.Values{"_csrf": {csrf}, "lang": {"de"}, "next": {"/recover?x=1"}})
	_ = readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/recover?x=1" {
		t.Fatalf("POST /language = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ck := langCookie(resp); ck == nil || ck.Value != "de" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
		t.Fatalf("cookies = %+v", resp.Cookies())
	}
	req, _ := http.NewRequest(http.MethodGet, app.issuer+"/recover", nil)
	req.Header.Set("Accept-Language", "fr")
	r2, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, r2); !strings.Contains(body, `<html lang="de">`) || !strings.Contains(body, "Passkey verloren?") {
		t.Fatalf("the switcher's choice does not win over Accept-Language:\n%s", body)
	}
}

// langCookie is the switcher's cookie set by resp, or nil.
func langCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "latchkey_lang" {
			return c
		}
	}
	return nil
}

// oneLine joins a wrapped text part's lines.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", " "), "\n", " ")
}
