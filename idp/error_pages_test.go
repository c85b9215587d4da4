package idp

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

var pageTitle = regexp.MustCompile(`<title>([^<]+)</title>`)

// answer is a response read whole.
type answer struct {
	StatusCode int
	Header     http.Header
	body       string
}

// read reads and closes resp.
func read(t *testing.T, resp *http.Response) answer {
	t.Helper()
	return answer{StatusCode: resp.StatusCode, Header: resp.Header, body: readBody(t, resp)}
}

// wantErrorPage checks that resp is one of our HTML error pages: the
// status, text/html, <html lang=…>, a title, the message and what to do,
// and no redirect.
func wantErrorPage(t *testing.T, what string, resp answer, status int, title string, says ...string) {
	t.Helper()
	body := resp.body
	if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("%s: %d %q, want %d text/html\n%s", what, resp.StatusCode, resp.Header.Get("Content-Type"), status, body)
		return
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("%s: redirects to %s", what, loc)
	}
	m := pageTitle.FindStringSubmatch(body)
	if !strings.Contains(body, `<html lang="en">`) || m == nil || !strings.Contains(m[1], title) || !strings.Contains(body, "<h1>"+title+"</h1>") {
		t.Errorf("%s: not a titled page %q with lang:\n%s", what, title, body)
	}
	if !strings.Contains(body, `class="hint"`) {
		t.Errorf("%s: the page says nothing about what to do:\n%s", what, body)
	}
	for _, s := range says {
		if !strings.Contains(body, s) {
			t.Errorf("%s: the page does not say %q:\n%s", what, s, body)
		}
	}
}

// Every error a browser can reach at /authorize, /end_session and a setup
// link is a page in our style, never op's bare JSON or text, and an
// unregistered redirect_uri or post_logout_redirect_uri is never followed
// (RFC 6749 §4.1.2.1, RP-Initiated Logout 1.0 §3).
func TestBrowserErrorPages(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	user, setup := app.newUser("hana", false)
	b := app.newBrowser()
	b.register(setup)

	authorize := func(q url.Values) answer {
		q.Set("response_type", "code")
		q.Set("scope", "openid")
		q.Set("state", "st")
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
		q.Set("code_challenge_method", "S256")
		resp := b.get("/authorize?" + q.Encode())
		defer func() { _ = resp.Body.Close() }()
		return read(t, resp)
	}
	wantErrorPage(t, "unknown client_id", authorize(url.Values{"client_id": {"no-such-client"}, "redirect_uri": {redirect}}),
		http.StatusBadRequest, "Unknown application", "not registered with Latchkey")
	wantErrorPage(t, "missing client_id", authorize(url.Values{"redirect_uri": {redirect}}),
		http.StatusBadRequest, "Sign-in request not valid", "client_id is missing")
	wantErrorPage(t, "unregistered redirect_uri", authorize(url.Values{"client_id": {client.ID}, "redirect_uri": {"https://evil.example/cb"}}),
		http.StatusBadRequest, "Return address not registered", "redirect_uri")
	wantErrorPage(t, "a registered URI's sibling path", authorize(url.Values{"client_id": {client.ID}, "redirect_uri": {redirect + "/evil"}}),
		http.StatusBadRequest, "Return address not registered")
	wantErrorPage(t, "missing redirect_uri", authorize(url.Values{"client_id": {client.ID}}),
		http.StatusBadRequest, "Sign-in request not valid", "redirect_uri is missing")
	// POST as well as GET (OIDC Core §3.1.2.1).
	resp, err := b.client.PostForm(app.issuer+"/authorize", url.Values{"client_id": {"no-such-client"}, "redirect_uri": {redirect}, "response_type": {"code"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	// No CSRF guard stands before /authorize: a form POST without Fetch
	// Metadata (an older browser, a client library) gets the same page.
	wantErrorPage(t, "unknown client_id (POST)", read(t, resp), http.StatusBadRequest, "Unknown application", "not registered with Latchkey")
	// A good request still reaches the sign-in flow, and the errors that can
	// go back to a registered redirect_uri still do (plain PKCE here).
	authURL, f := r.authURL()
	tok, idt := r.exchange(b.signIn(authURL), f)
	bad := url.Values{"client_id": {client.ID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s2"},
		"code_challenge": {"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq"}, "code_challenge_method": {"plain"}}
	if loc := b.expectRedirect("/authorize?" + bad.Encode()); !strings.HasPrefix(loc.String(), redirect+"?") || loc.Query().Get("error") == "" {
		t.Fatalf("an error for a registered redirect_uri went to %s, want the client", loc)
	}

	// end_session: a rejected post_logout_redirect_uri is a page, and
	// nothing changes (the session stays).
	var cl idClaims
	_ = idt.Claims(&cl)
	rawID, _ := tok.Extra("id_token").(string)
	for name, q := range map[string]url.Values{
		"with id_token_hint":    {"id_token_hint": {rawID}, "post_logout_redirect_uri": {"https://evil.example/bye"}, "state": {"s"}},
		"with client_id":        {"client_id": {client.ID}, "post_logout_redirect_uri": {"https://evil.example/bye"}},
		"unknown client_id":     {"client_id": {"no-such-client"}, "post_logout_redirect_uri": {redirect + "/bye"}},
		"no client at all":      {"post_logout_redirect_uri": {redirect + "/bye"}},
		"client_id is not azp":  {"id_token_hint": {rawID}, "client_id": {"another"}, "post_logout_redirect_uri": {redirect + "/bye"}},
		"hint, sibling address": {"id_token_hint": {rawID}, "post_logout_redirect_uri": {redirect + "/bye/evil"}},
	} {
		wantErrorPage(t, "end_session "+name, b.read("/end_session?"+q.Encode()), http.StatusBadRequest, "Sign-out request not accepted", "Nothing was changed")
		if sess, err := app.db.SessionByID(ctx, cl.SID); err != nil || sess.EndedAt != nil {
			t.Fatalf("end_session %s ended the session: %+v %v", name, sess, err)
		}
	}
	// The registered address still works.
	q := url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {redirect + "/bye"}, "state": {"s1"}}
	if loc := b.expectRedirect("/end_session?" + q.Encode()); loc.String() != redirect+"/bye?state=s1" {
		t.Fatalf("logout redirect = %s", loc)
	}

	// A native app's loopback address may differ in its port (RFC 8252
	// §7.3), with and without an id_token_hint; its path may not.
	cli, _ := app.newClient("http://127.0.0.1:8400/cb", func(c *models.Client) {
		c.Public, c.PostLogoutRedirectURIs = true, models.StringList{"http://127.0.0.1:8400/bye"}
	})
	fresh := app.newBrowser()
	q = url.Values{"client_id": {cli.ID}, "post_logout_redirect_uri": {"http://127.0.0.1:51234/bye"}}
	if loc := fresh.expectRedirect("/end_session?" + q.Encode()); loc.String() != "http://127.0.0.1:51234/bye" {
		t.Fatalf("native loopback post-logout redirect = %s", loc)
	}
	q.Set("post_logout_redirect_uri", "http://127.0.0.1:51234/other")
	wantErrorPage(t, "native app, other path", fresh.read("/end_session?"+q.Encode()), http.StatusBadRequest, "Sign-out request not accepted")

	// Setup links: used, unknown, expired.
	wantErrorPage(t, "used setup link", b.read(strings.TrimPrefix(setup, app.issuer)), http.StatusNotFound, "Setup link not valid", "already been used", "Ask your administrator")
	wantErrorPage(t, "unknown setup link", b.read("/setup/"+models.NewToken()), http.StatusNotFound, "Setup link not valid")
	_, late := app.newUser("ivo", false)
	app.clock.Advance(2 * time.Hour) // newUser's links last an hour
	wantErrorPage(t, "expired setup link", b.read(strings.TrimPrefix(late, app.issuer)), http.StatusGone, "Setup link expired", "Ask your administrator for a new setup link")
	_ = user

	// The pages speak the browser's language: lang and title translated.
	for _, tc := range []struct{ lang, unknownClient, badRedirect, logout, setup string }{
		{"de", "Unbekannte Anwendung", "Rücksprungadresse nicht registriert", "Abmeldeanfrage nicht angenommen", "Einrichtungslink ungültig"},
		{"fr", "Application inconnue", "Adresse de retour non enregistrée", "Demande de déconnexion refusée", "Lien de configuration non valide"},
	} {
		get := func(u string) answer {
			req, _ := http.NewRequest(http.MethodGet, app.issuer+u, nil)
			req.Header.Set("Accept-Language", tc.lang+",en;q=0.5")
			resp, err := b.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			return read(t, resp)
		}
		base := url.Values{"response_type": {"code"}, "scope": {"openid"}, "state": {"st"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		unknown, badRedirect := url.Values{}, url.Values{}
		for k, v := range base {
			unknown[k], badRedirect[k] = v, v
		}
		unknown.Set("client_id", "no-such-client")
		unknown.Set("redirect_uri", redirect)
		badRedirect.Set("client_id", client.ID)
		badRedirect.Set("redirect_uri", "https://evil.example/cb")
		for _, p := range []struct {
			what, url, title string
			status           int
		}{
			{"unknown client_id", "/authorize?" + unknown.Encode(), tc.unknownClient, http.StatusBadRequest},
			{"unregistered redirect_uri", "/authorize?" + badRedirect.Encode(), tc.badRedirect, http.StatusBadRequest},
			{"rejected post_logout_redirect_uri", "/end_session?" + url.Values{"client_id": {client.ID}, "post_logout_redirect_uri": {"https://evil.example/bye"}}.Encode(), tc.logout, http.StatusBadRequest},
			{"unknown setup link", "/setup/" + models.NewToken(), tc.setup, http.StatusNotFound},
		} {
			a := get(p.url)
			m := pageTitle.FindStringSubmatch(a.body)
			if a.StatusCode != p.status || !strings.Contains(a.body, `<html lang="`+tc.lang+`">`) || m == nil || !strings.Contains(m[1], p.title) ||
				!strings.Contains(a.body, "<h1>"+p.title+"</h1>") || !strings.Contains(a.body, `class="hint"`) {
				t.Errorf("%s in %s: %d, want %d, lang %s and the title %q:\n%s", p.what, tc.lang, a.StatusCode, p.status, tc.lang, p.title, a.body)
			}
		}
	}
}

// read GETs u and reads the whole answer.
func (b *browser) read(u string) answer {
	b.t.Helper()
	resp := b.get(u)
	defer func() { _ = resp.Body.Close() }()
	return read(b.t, resp)
}
