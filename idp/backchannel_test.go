package idp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// logoutReceiver is a relying party's back-channel logout endpoint: it
// verifies each logout token like an RP must (§2.6) and records it.
type logoutReceiver struct {
	t       *testing.T
	app     *testApp
	srv     *httptest.Server
	mu      sync.Mutex
	failN   int // answer 500 to this many requests first
	got     []map[string]any
	headers []map[string]any
}

func (a *testApp) newLogoutReceiver() *logoutReceiver {
	lr := &logoutReceiver{t: a.t, app: a}
	lr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr.mu.Lock()
		defer lr.mu.Unlock()
		if lr.failN > 0 {
			lr.failN--
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		raw := r.PostFormValue("logout_token")
		lr.headers = append(lr.headers, jwtHeader(a.t, raw))
		lr.got = append(lr.got, a.verifyJWT(raw)) // signature against the JWKS
		w.WriteHeader(http.StatusOK)
	}))
	a.t.Cleanup(lr.srv.Close)
	return lr
}

func (lr *logoutReceiver) tokens() ([]map[string]any, []map[string]any) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return append([]map[string]any(nil), lr.got...), append([]map[string]any(nil), lr.headers...)
}

// checkLogoutToken asserts the claims of OIDC Back-Channel Logout §2.4.
func checkLogoutToken(t *testing.T, app *testApp, claims, header map[string]any, clientID, sub, sid string) {
	t.Helper()
	if header["typ"] != "logout+jwt" {
		t.Errorf("logout token typ = %v", header["typ"])
	}
	if claims["iss"] != app.issuer || claims["sub"] != sub || claims["sid"] != sid {
		t.Errorf("logout token iss/sub/sid = %v %v %v, want %s %s %s", claims["iss"], claims["sub"], claims["sid"], app.issuer, sub, sid)
	}
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != clientID {
		if claims["aud"] != clientID {
			t.Errorf("logout token aud = %v, want %s", claims["aud"], clientID)
		}
	}
	ev, _ := claims["events"].(map[string]any)
	if _, ok := ev["http://schemas.openid.net/event/backchannel-logout"]; !ok || len(ev) != 1 {
		t.Errorf("logout token events = %v", claims["events"])
	}
	if _, ok := claims["nonce"]; ok {
		t.Error("logout token carries a nonce (§2.4 forbids it)")
	}
	for _, k := range []string{"iat", "exp", "jti"} {
		if claims[k] == nil {
			t.Errorf("logout token lacks %s", k)
		}
	}
}

func TestLogoutConfirmationAndBackchannel(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	user, setup := app.newUser("lena", false)
	recv := app.newLogoutReceiver()
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect, func(c *models.Client) { c.BackchannelLogoutURI = recv.srv.URL + "/bc" })
	other, otherSecret := app.newClient("http://localhost:9998/cb", func(c *models.Client) { c.Name = "No back-channel" })
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, redirect)
	authURL, f := r.authURL()
	_, idt := r.exchange(b.signIn(authURL), f)
	var cl idClaims
	_ = idt.Claims(&cl)
	// The same session also signs in to a client without a receiver.
	r2 := app.newRP(other.ID, otherSecret, "http://localhost:9998/cb")
	authURL, f = r2.authURL()
	r2.exchange(b.signIn(authURL), f)

	d := app.discovery()
	if !d.BackchannelLogout || !d.BackchannelSession || d.FrontchannelLogout {
		t.Fatalf("discovery back/front-channel = %v %v %v", d.BackchannelLogout, d.BackchannelSession, d.FrontchannelLogout)
	}

	// A cross-site link without id_token_hint only shows a confirmation.
	q := url.Values{"client_id": {client.ID}, "post_logout_redirect_uri": {redirect + "/bye"}, "state": {"st1"}}
	body, _ := b.page("/end_session?"+q.Encode(), http.StatusOK)
	if !strings.Contains(body, "Sign out of Latchkey?") || !strings.Contains(body, `action="/end_session/confirm"`) {
		t.Fatalf("no confirmation page:\n%s", body)
	}
	if sess, _ := app.db.SessionByID(ctx, cl.SID); sess.EndedAt != nil {
		t.Fatal("the link alone ended the session")
	}
	csrf := hiddenCSRF.FindStringSubmatch(body)[1]

	t.Run("confirm form needs its CSRF token", func(t *testing.T) {
		resp := b.postForm("/end_session/confirm", "forged", url.Values{})
		readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("forged confirm: %d", resp.StatusCode)
		}
	})

	loc := b.expectRedirectAfter("/end_session/confirm", csrf, q)
	if loc != redirect+"/bye?state=st1" {
		t.Fatalf("after confirmation redirected to %s", loc)
	}
	if sess, _ := app.db.SessionByID(ctx, cl.SID); sess.EndedAt == nil {
		t.Fatal("confirmed logout did not end the session")
	}

	// The receiver is down on the first attempt: retried after backoff.
	recv.failN = 1
	if n, err := app.srv.Provider().DeliverBackchannelLogouts(ctx); err != nil || n != 0 {
		t.Fatalf("first delivery = %d, %v; want a failure", n, err)
	}
	if got, _ := recv.tokens(); len(got) != 0 {
		t.Fatal("token recorded despite failure")
	}
	app.clock.Advance(15 * time.Second)
	if n, err := app.srv.Provider().DeliverBackchannelLogouts(ctx); err != nil || n != 1 {
		t.Fatalf("retry delivered %d, %v; want 1 (only the client with a receiver)", n, err)
	}
	got, hdr := recv.tokens()
	if len(got) != 1 {
		t.Fatalf("receiver got %d tokens", len(got))
	}
	checkLogoutToken(t, app, got[0], hdr[0], client.ID, user.ID, cl.SID)
	evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: oidc.EventBackchannelLogout})
	if len(evs) != 2 || evs[0].Success != true || evs[1].Success != false {
		t.Fatalf("audit of deliveries = %+v", evs)
	}
	if n, _ := app.srv.Provider().DeliverBackchannelLogouts(ctx); n != 0 {
		t.Fatal("delivered twice")
	}

	t.Run("unregistered post_logout_redirect_uri is not followed", func(t *testing.T) {
		b2 := app.newBrowserFor(b)
		authURL, f := r.authURL()
		r.exchange(b2.signIn(authURL), f)
		// The request is refused on a page before anything changes
		// (error_pages_test.go); a forged confirmation with the address
		// still signs out without following it.
		bad := url.Values{"client_id": {client.ID}, "post_logout_redirect_uri": {"https://evil.example/"}, "state": {"x"}}
		b2.page("/end_session?"+bad.Encode(), http.StatusBadRequest)
		body, _ := b2.page("/end_session?"+url.Values{"client_id": {client.ID}}.Encode(), http.StatusOK)
		loc := b2.expectRedirectAfter("/end_session/confirm", hiddenCSRF.FindStringSubmatch(body)[1], bad)
		if loc != app.issuer+"/logged-out" {
			t.Fatalf("redirected to %s", loc)
		}
		if n, _ := app.srv.Provider().DeliverBackchannelLogouts(ctx); n != 1 {
			t.Fatalf("delivered %d logout tokens for the second session", n)
		}
	})

	t.Run("disabling a user notifies the clients", func(t *testing.T) {
		b3 := app.newBrowserFor(b)
		authURL, f := r.authURL()
		_, idt := r.exchange(b3.signIn(authURL), f)
		var c3 idClaims
		_ = idt.Claims(&c3)
		if err := app.db.SetUserDisabled(ctx, user.ID, true); err != nil {
			t.Fatal(err)
		}
		if n, err := app.srv.Provider().DeliverBackchannelLogouts(ctx); err != nil || n != 1 {
			t.Fatalf("delivered %d, %v", n, err)
		}
		got, hdr := recv.tokens()
		checkLogoutToken(t, app, got[len(got)-1], hdr[len(hdr)-1], client.ID, user.ID, c3.SID)
	})
}
