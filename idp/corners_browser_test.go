package idp

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// OIDC Core §3.1.2.1: a relying party's page may send the browser to the
// authorization endpoint with a form POST. In Chromium, from another site
// (127.0.0.1 is not the same site as localhost), the POST lands on the
// sign-in page, which offers the passkey, not on a CSRF refusal.
func TestBrowserAuthorizeByFormPOST(t *testing.T) {
	exe := findChromium(t)
	app, _, _, r, _ := enrolled(t)
	authURL, _ := r.authURL()
	u := mustURL(t, authURL)
	var inputs strings.Builder
	for k, v := range u.Query() {
		inputs.WriteString(`<input type="hidden" name="` + html.EscapeString(k) + `" value="` + html.EscapeString(v[0]) + `">`)
	}
	action := app.issuer + "/authorize"
	rpPage := `<!doctype html><html lang="en"><head><title>RP</title></head><body>` +
		`<form id="f" method="post" action="` + action + `">` + inputs.String() + `<button id="go" type="submit">Sign in</button></form></body></html>`
	ln, _ := listenLoopback(t)
	serveOn(t, ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(rpPage))
	}))
	rpURL := "http://" + ln.Addr().String() + "/" // 127.0.0.1: another site than localhost
	c := newChrome(t, exe, true)
	c.do("post the authorization request from the relying party's page",
		chromedp.Navigate(rpURL),
		chromedp.WaitVisible(chromedp.ID("go")),
		chromedp.Click(chromedp.ID("go")),
	)
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := c.state()
		if err == nil {
			if p, ok := sameOrigin(s.Href, app.issuer); ok && p.Path == "/login" && s.Ready == "complete" {
				if !s.Button {
					c.fatalf("the sign-in page offers no passkey button")
				}
				return
			}
			if p, _ := url.Parse(s.Href); p != nil && p.Path == "/authorize" && s.Ready == "complete" {
				c.fatalf("POST /authorize answered a page instead of the sign-in: %q", s.Text)
			}
		}
		if time.Now().After(deadline) {
			c.fatalf("POST /authorize did not reach the sign-in page (at %s)", s.Href)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
