package idp

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var (
	mainOf     = regexp.MustCompile(`(?s)<main[^>]*>(.*)</main>`)
	anyTag     = regexp.MustCompile(`(?s)<[^>]*>`)
	switcherOf = regexp.MustCompile(`(?s)<form method="post" action="/language" id="language-switcher">.*?</form>`)
)

// mainText is the visible text of a page's <main>, tags dropped and
// spaces collapsed.
func mainText(body string) string {
	m := mainOf.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(html.UnescapeString(anyTag.ReplaceAllString(m[1], " "))), " ")
}

// TestEveryPublicPageHasTheSwitcher (issue 23: "a language switcher on
// every page"): every public page an anonymous or signed-in user can
// reach, error pages included, is served in English, German and French
// as Accept-Language asks, names that language in <html lang>, carries
// the switcher with the three languages (the current one marked) and a
// CSRF token, returns to the same page after a switch, and says
// something else in German and French than in English (no page ignores
// the language).
func TestEveryPublicPageHasTheSwitcher(t *testing.T) {
	app := newTestApp(t)
	client, secret := app.newClient("https://app.example.com/callback")
	rp := app.newRP(client.ID, secret, "https://app.example.com/callback", "openid")
	_, setup := app.newUser("pia", false)
	_, other := app.newUser("quinn", false)

	// The sign-in page of a real authorization request.
	anon := app.newBrowser()
	authURL, _ := rp.authURL()
	resp := anon.get(authURL)
	_ = resp.Body.Close()
	login := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(login, "/login") {
		t.Fatalf("authorize = %d to %q", resp.StatusCode, login)
	}
	login = strings.TrimPrefix(login, app.issuer)

	signedIn := app.newBrowser()
	signedIn.register(setup)
	signedIn.accountSignIn()

	pages := []struct {
		who    *browser
		path   string
		status int
	}{
		{anon, "/", http.StatusOK},
		{anon, login, http.StatusOK},
		{anon, "/account", http.StatusOK}, // its sign-in form
		{anon, "/recover", http.StatusOK},
		{anon, "/signup", http.StatusForbidden}, // sign-up is closed: an error page
		{anon, strings.TrimPrefix(other, app.issuer), http.StatusOK},
		{anon, "/setup/not-a-token", http.StatusNotFound},
		{anon, "/signup/not-a-token", http.StatusForbidden},
		{anon, "/email/verify/not-a-token", http.StatusNotFound},
		{anon, "/device", http.StatusOK},
		{anon, "/consent", http.StatusBadRequest},
		{anon, "/logged-out", http.StatusOK},
		{anon, "/no-such-page", http.StatusNotFound},
		{signedIn, "/account", http.StatusOK},
	}
	for _, p := range pages {
		english := ""
		for _, lang := range []string{"en", "de", "fr"} {
			req, _ := http.NewRequest(http.MethodGet, p.who.abs(p.path), nil)
			req.Header.Set("Accept-Language", lang)
			resp, err := p.who.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != p.status {
				t.Errorf("GET %s in %s: status %d, want %d", p.path, lang, resp.StatusCode, p.status)
				continue
			}
			if !strings.Contains(body, `<html lang="`+lang+`">`) {
				t.Errorf("GET %s asked in %s is not in %s", p.path, lang, lang)
			}
			sw := switcherOf.FindString(body)
			if sw == "" {
				t.Errorf("GET %s in %s has no language switcher", p.path, lang)
				continue
			}
			for _, l := range []string{"en", "de", "fr"} {
				button := `value="` + l + `" lang="` + l + `" id="lang-` + l + `"`
				if l == lang {
					button += ` aria-current="true"`
				}
				if !strings.Contains(sw, button) {
					t.Errorf("GET %s in %s: the switcher lacks %s", p.path, lang, button)
				}
			}
			if !strings.Contains(sw, `name="_csrf"`) {
				t.Errorf("GET %s in %s: the switcher has no CSRF token", p.path, lang)
			}
			if want := `name="next" value="` + html.EscapeString(p.path) + `"`; !strings.Contains(sw, want) {
				t.Errorf("GET %s in %s: the switcher does not return to the page (want %s):\n%s", p.path, lang, want, sw)
			}
			text := mainText(body)
			if text == "" {
				t.Errorf("GET %s in %s: no <main> text", p.path, lang)
			}
			if lang == "en" {
				english = text
			} else if text == english {
				t.Errorf("GET %s says the same in %s as in English: %q", p.path, lang, text)
			}
		}
	}
}
