package idp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

// loginStart begins a sign-in for a fresh authorize request and returns the
// auth request ID, the CSRF token and the begin response.
func (b *browser) loginStart(r *rp, extra ...oauth2.AuthCodeOption) (string, string, beginResp) {
	b.t.Helper()
	arID, csrf, _ := b.loginPage(r, extra...)
	var begin beginResp
	if st := b.postJSON("/login/passkey/begin", csrf, map[string]string{"authRequestID": arID}, &begin); st != http.StatusOK {
		b.t.Fatalf("begin: %d %s", st, begin.Error)
	}
	return arID, csrf, begin
}

// loginStartPage is loginStart without the begin request: it returns the
// first ceremony the sign-in page carries (the auth request's own
// challenge, passkeys/bound.go), as the page's script uses it.
func (b *browser) loginStartPage(r *rp, extra ...oauth2.AuthCodeOption) (string, string, beginResp) {
	b.t.Helper()
	arID, csrf, body := b.loginPage(r, extra...)
	return arID, csrf, pageBegin(b.t, body)
}

// loginPage follows a fresh authorize request to the sign-in page and
// returns the auth request ID, the CSRF token and the page.
func (b *browser) loginPage(r *rp, extra ...oauth2.AuthCodeOption) (string, string, string) {
	b.t.Helper()
	authURL, _ := r.authURL(extra...)
	return b.signInPage(authURL)
}

func (b *browser) loginFinish(arID, csrf, ceremonyID string, assertion []byte) (int, string) {
	b.t.Helper()
	var out struct{ Redirect, Error string }
	st := b.postJSON("/login/passkey/finish", csrf, map[string]any{"authRequestID": arID, "ceremonyID": ceremonyID, "credential": json.RawMessage(assertion)}, &out)
	return st, out.Error
}

// enrolled returns an app, a registered browser, its user, and an RP.
func enrolled(t *testing.T) (*testApp, *browser, *models.User, *rp, *models.Client) {
	app := newTestApp(t)
	user, setup := app.newUser("bob", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)
	return app, b, user, app.newRP(client.ID, secret, redirect), client
}

func TestSignInRefusals(t *testing.T) {
	app, b, user, r, _ := enrolled(t)
	ctx := context.Background()

	strangers := 0
	cases := []struct {
		name      string
		tamper    func(arID, csrf string, begin beginResp) (int, string)
		wantState int
		wantMsg   string
		reason    string
	}{
		{"replayed challenge", func(arID, csrf string, begin beginResp) (int, string) {
			a, _ := b.auth.Get(begin.Options)
			if st, msg := b.loginFinish(arID, csrf, begin.CeremonyID, a); st != http.StatusOK {
				t.Fatalf("first use refused: %d %s", st, msg)
			}
			// The same ceremony again, on a fresh request of the same browser.
			arID2, csrf2, _ := b.loginStart(r, oauth2.SetAuthURLParam("prompt", "login"))
			return b.loginFinish(arID2, csrf2, begin.CeremonyID, a)
		}, http.StatusUnauthorized, "", "replayed_challenge"},
		{"expired challenge", func(arID, csrf string, begin beginResp) (int, string) {
			a, _ := b.auth.Get(begin.Options)
			app.clock.Advance(6 * time.Minute)
			defer app.clock.Advance(-6 * time.Minute)
			return b.loginFinish(arID, csrf, begin.CeremonyID, a)
		}, 0, "", "expired_challenge"},
		{"wrong origin", func(arID, csrf string, begin beginResp) (int, string) {
			b.auth.Origin = "http://evil.localhost:1"
			defer func() { b.auth.Origin = app.issuer }()
			a, _ := b.auth.Get(begin.Options)
			return b.loginFinish(arID, csrf, begin.CeremonyID, a)
		}, http.StatusUnauthorized, "", ""},
		{"user verification missing", func(arID, csrf string, begin beginResp) (int, string) {
			b.auth.UV = false
			defer func() { b.auth.UV = true }()
			a, _ := b.auth.Get(begin.Options)
			return b.loginFinish(arID, csrf, begin.CeremonyID, a)
		}, http.StatusUnauthorized, "", ""},
		{"unknown credential", func(arID, csrf string, begin beginResp) (int, string) {
			stranger := passkeytest.New("localhost", app.issuer)
			other := app.newBrowser()
			other.auth = stranger
			strangers++
			name := fmt.Sprintf("mallory%d", strangers)
			_, setup := app.newUser(name, false)
			other.register(setup)
			mal, _ := app.db.UserByUsername(ctx, name)
			creds, _ := app.db.CredentialsByUser(ctx, mal.ID)
			_ = app.db.DeleteCredential(ctx, mal.ID, creds[0].ID)
			a, _ := stranger.Get(begin.Options)
			return b.loginFinish(arID, csrf, begin.CeremonyID, a)
		}, http.StatusUnauthorized, "", "unknown_credential"},
		{"malformed credential", func(arID, csrf string, begin beginResp) (int, string) {
			return b.loginFinish(arID, csrf, begin.CeremonyID, []byte(`{"id":"x","response":{}}`))
		}, http.StatusBadRequest, "", ""},
	}
	// Each refusal on both kinds of challenge: the page's own (bound to the
	// auth request) and a ceremony from POST /login/passkey/begin.
	starts := []struct {
		name  string
		start func(*rp, ...oauth2.AuthCodeOption) (string, string, beginResp)
	}{{"page challenge", b.loginStartPage}, {"ceremony", b.loginStart}}
	for _, st := range starts {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				arID, csrf, begin := st.start(r, oauth2.SetAuthURLParam("prompt", "login"))
				status, msg := tc.tamper(arID, csrf, begin)
				if status == http.StatusOK || (tc.wantState != 0 && status != tc.wantState) {
					t.Fatalf("status %d (%s), want refusal %d", status, msg, tc.wantState)
				}
				if msg == "" {
					t.Fatal("refusal without a message")
				}
				reason := tc.reason
				if reason == "replayed_challenge" && begin.CeremonyID == "" {
					// The replay answers the first request's challenge,
					// not the second's.
					reason = "challenge_mismatch"
				}
				if reason != "" {
					evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventSignInFailed, Limit: 1})
					if len(evs) == 0 || evs[0].Detail["reason"] != reason {
						t.Fatalf("audit = %+v, want reason %s", evs, reason)
					}
					// The audit log names the unknown credential, so an
					// admin can tell one stray passkey from many.
					if cid, _ := evs[0].Detail["credential"].(string); reason == "unknown_credential" && (cid == "" || evs[0].UserID != "") {
						t.Fatalf("unknown credential audited as %+v, want its ID and no user", evs[0])
					}
				}
			})
		}
	}

	t.Run("disabled user", func(t *testing.T) {
		arID, csrf, begin := b.loginStart(r, oauth2.SetAuthURLParam("prompt", "login"))
		if err := app.db.SetUserDisabled(ctx, user.ID, true); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := app.db.SetUserDisabled(ctx, user.ID, false); err != nil {
				t.Errorf("enable the user again: %v", err)
			}
		})
		a, _ := b.auth.Get(begin.Options)
		if st, msg := b.loginFinish(arID, csrf, begin.CeremonyID, a); st == http.StatusOK || msg == "" {
			t.Fatalf("disabled user signed in: %d %q", st, msg)
		}
		if evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventSignInFailed, Limit: 1}); len(evs) != 1 || evs[0].UserID != user.ID {
			t.Fatalf("the disabled user's refusal audited as %+v, want it to name %s", evs, user.ID)
		}
	})

	t.Run("sign count regression", func(t *testing.T) {
		arID, csrf, begin := b.loginStart(r, oauth2.SetAuthURLParam("prompt", "login"))
		b.auth.SetSignCount(0) // a cloned authenticator replays an old counter
		a, _ := b.auth.Get(begin.Options)
		if st, _ := b.loginFinish(arID, csrf, begin.CeremonyID, a); st == http.StatusOK {
			t.Fatal("sign count regression accepted")
		}
		creds, _ := app.db.CredentialsByUser(ctx, user.ID)
		if !creds[0].CloneWarning {
			t.Fatal("clone warning not set")
		}
		if evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventCloneWarning}); len(evs) != 1 || evs[0].UserID != user.ID || evs[0].Detail["credential"] == nil {
			t.Fatalf("clone warning audited as %+v, want once, naming %s and the passkey", evs, user.ID)
		}
	})
}

func TestAuthorizeRefusals(t *testing.T) {
	app, b, _, r, client := enrolled(t)

	t.Run("PKCE plain refused", func(t *testing.T) {
		u, _ := url.Parse(r.oauth.AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", "abcdefghijabcdefghijabcdefghijabcdefghijabc"), oauth2.SetAuthURLParam("code_challenge_method", "plain")))
		loc := b.expectRedirect(u.String())
		if loc.Query().Get("error") != "invalid_request" || !strings.HasPrefix(loc.String(), "http://localhost:9999/callback") {
			t.Fatalf("plain PKCE: redirected to %s", loc)
		}
	})

	t.Run("unregistered redirect URI is never redirected to", func(t *testing.T) {
		bad := r.oauth
		bad.RedirectURL = "http://localhost:9999/callback/evil"
		resp := b.get(bad.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		body := readBody(t, resp)
		if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
			t.Fatalf("redirected to %s", resp.Header.Get("Location"))
		}
		if resp.StatusCode < 400 || !strings.Contains(strings.ToLower(body), "redirect") {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})

	t.Run("prompt=none without a session", func(t *testing.T) {
		fresh := app.newBrowser()
		authURL, f := r.authURL(oauth2.SetAuthURLParam("prompt", "none"))
		cb := fresh.followToClient(fresh.expectRedirect(authURL))
		if cb.Query().Get("error") != "login_required" || cb.Query().Get("state") != f.state {
			t.Fatalf("prompt=none: %s", cb)
		}
	})

	t.Run("code replay refused and its tokens revoked", func(t *testing.T) {
		authURL, f := r.authURL()
		cb := b.signIn(authURL)
		tok, _ := r.exchange(cb, f)
		_, err := r.oauth.Exchange(r.ctx, cb.Query().Get("code"), oauth2.VerifierOption(f.verifier))
		if !isOAuthError(err, "invalid_grant") {
			t.Fatalf("replayed code: %v", err)
		}
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Fatal("tokens of a replayed code still work")
		}
	})

	t.Run("code expires after 60 s", func(t *testing.T) {
		authURL, f := r.authURL()
		cb := b.signIn(authURL)
		app.clock.Advance(61 * time.Second)
		_, err := r.oauth.Exchange(r.ctx, cb.Query().Get("code"), oauth2.VerifierOption(f.verifier))
		if !isOAuthError(err, "invalid_grant") {
			t.Fatalf("expired code: %v", err)
		}
	})

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		authURL, _ := r.authURL()
		cb := b.signIn(authURL)
		_, err := r.oauth.Exchange(r.ctx, cb.Query().Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if !isOAuthError(err, "invalid_grant") {
			t.Fatalf("wrong verifier: %v", err)
		}
	})

	t.Run("prompt=login forces a ceremony", func(t *testing.T) {
		authURL, _ := r.authURL(oauth2.SetAuthURLParam("prompt", "login"))
		b.in(t).signInPage(authURL)
	})

	t.Run("max_age exceeded forces a ceremony", func(t *testing.T) {
		app.clock.Advance(2 * time.Minute)
		authURL, _ := r.authURL(oauth2.SetAuthURLParam("max_age", "60"))
		if _, _, body := b.signInPage(authURL); !strings.Contains(body, "Sign in with a passkey") {
			t.Fatalf("max_age: no sign-in page\n%s", body)
		}
	})
	_ = client
}

func TestSetupLinkRefusals(t *testing.T) {
	app := newTestApp(t)
	user, setup := app.newUser("carol", false)
	path := strings.TrimPrefix(setup, app.issuer)
	b := app.newBrowser()

	b.page("/setup/not-a-token", http.StatusNotFound)
	app.clock.Advance(2 * time.Hour)
	body, _ := b.page(path, http.StatusGone)
	if !strings.Contains(body, "expired") {
		t.Fatalf("expired link page: %s", body)
	}
	app.clock.Advance(-2 * time.Hour)

	// A new link replaces the old one.
	newLink, err := IssueSetupLink(context.Background(), app.db, app.issuer, user.ID, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	b.page(path, http.StatusGone)
	b.register(newLink)
	b.page(strings.TrimPrefix(newLink, app.issuer), http.StatusNotFound)
	creds, _ := app.db.CredentialsByUser(context.Background(), user.ID)
	if len(creds) != 1 || creds[0].Name != "Test key" {
		t.Fatalf("credentials = %+v", creds)
	}
}

// A registration ceremony is bound to the setup link it was begun at: one
// begun at link B and answered at link A adds nothing to anyone.
func TestSetupFinishBoundToItsLink(t *testing.T) {
	app := newTestApp(t)
	userA, linkA := app.newUser("anna", false)
	userB, linkB := app.newUser("bert", false)
	pathA, pathB := strings.TrimPrefix(linkA, app.issuer), strings.TrimPrefix(linkB, app.issuer)
	b := app.newBrowser()
	_, csrf := b.page(pathB, http.StatusOK)
	var begin beginResp
	if st := b.postJSON(pathB+"/begin", csrf, map[string]any{}, &begin); st != http.StatusOK {
		t.Fatalf("begin at B: %d %s", st, begin.Error)
	}
	cred, err := b.auth.Create(begin.Options)
	if err != nil {
		t.Fatal(err)
	}
	var fin struct{ Error string }
	st := b.postJSON(pathA+"/finish", csrf, map[string]any{"ceremonyID": begin.CeremonyID, "credential": json.RawMessage(cred)}, &fin)
	if st == http.StatusOK || fin.Error == "" {
		t.Fatalf("finish at A with B's ceremony: %d %q", st, fin.Error)
	}
	ctx := context.Background()
	for _, u := range []*models.User{userA, userB} {
		if creds, _ := app.db.CredentialsByUser(ctx, u.ID); len(creds) != 0 {
			t.Fatalf("%s got a passkey: %+v", u.Username, creds)
		}
	}
	// Both links still work for their own users.
	b.page(pathA, http.StatusOK)
	b.page(pathB, http.StatusOK)
}

// The sign-in page's own challenge (stored with the auth request,
// passkeys/bound.go) is used at most once (WebAuthn L3 §13.4.3): a refused
// answer uses it up, so even a correct answer to it is then refused; the
// page reloaded carries a new one; the answer that signed in cannot be
// sent again; and an expired one is refused and replaced on reload.
func TestPageChallengeSingleUse(t *testing.T) {
	app, b, _, r, _ := enrolled(t)
	ctx := context.Background()
	lastReason := func() any {
		evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventSignInFailed, Limit: 1})
		if len(evs) == 0 {
			return nil
		}
		return evs[0].Detail["reason"]
	}

	arID, csrf, begin := b.loginStartPage(r, oauth2.SetAuthURLParam("prompt", "login"))
	b.auth.Origin = "http://evil.localhost:1"
	bad, _ := b.auth.Get(begin.Options)
	b.auth.Origin = app.issuer
	if st, _ := b.loginFinish(arID, csrf, "", bad); st != http.StatusUnauthorized {
		t.Fatalf("answer from another origin: %d, want 401", st)
	}
	good, _ := b.auth.Get(begin.Options)
	if st, msg := b.loginFinish(arID, csrf, "", good); st != http.StatusUnauthorized || lastReason() != "replayed_challenge" {
		t.Fatalf("answer to a used-up challenge: %d %q, reason %v", st, msg, lastReason())
	}

	body, csrf := b.page("/login?authRequestID="+arID, http.StatusOK)
	again := pageBegin(t, body)
	if string(again.Options) == string(begin.Options) {
		t.Fatal("reloaded page carries the used-up challenge")
	}
	good, _ = b.auth.Get(again.Options)
	var fin struct{ Redirect, Error string }
	if st := b.postJSON("/login/passkey/finish", csrf, map[string]any{"authRequestID": arID, "ceremonyID": "", "credential": json.RawMessage(good)}, &fin); st != http.StatusOK {
		t.Fatalf("answer to the new challenge: %d %s", st, fin.Error)
	}
	if next, err := url.Parse(fin.Redirect); err != nil || !strings.HasPrefix(b.followToClient(next).String(), "http://localhost:9999/callback?") {
		t.Fatalf("signed in to %s", fin.Redirect)
	}
	if st, _ := b.loginFinish(arID, csrf, "", good); st != http.StatusConflict {
		t.Fatalf("the same answer again: %d, want 409", st)
	}
	ar, err := app.db.AuthRequestByID(ctx, arID)
	if err != nil || !ar.Done || ar.LoginChallenge != nil {
		t.Fatalf("completed request: %+v %v", ar, err)
	}

	arID, csrf, begin = b.loginStartPage(r, oauth2.SetAuthURLParam("prompt", "login"))
	good, _ = b.auth.Get(begin.Options)
	app.clock.Advance(6 * time.Minute)
	defer app.clock.Advance(-6 * time.Minute)
	if st, _ := b.loginFinish(arID, csrf, "", good); st != http.StatusUnauthorized || lastReason() != "expired_challenge" {
		t.Fatalf("expired challenge: %d, reason %v", st, lastReason())
	}
	body, csrf = b.page("/login?authRequestID="+arID, http.StatusOK)
	good, _ = b.auth.Get(pageBegin(t, body).Options)
	if st, msg := b.loginFinish(arID, csrf, "", good); st != http.StatusOK {
		t.Fatalf("the page reloaded after expiry: %d %s", st, msg)
	}
}

// A verified answer to the page's challenge that is refused afterwards (the
// application is limited to groups the user is not in) uses the challenge
// up too: once the user is let in, the same answer is still refused, and a
// reloaded page signs in.
func TestPageChallengeUsedUpByGroupRefusal(t *testing.T) {
	app, b, user, _, _ := enrolled(t)
	ctx := context.Background()
	const redirect = "http://localhost:9998/cb"
	client, secret := app.newClient(redirect, func(c *models.Client) { c.AllowedGroups = models.StringList{"ops"} })
	r := app.newRP(client.ID, secret, redirect)
	arID, csrf, begin := b.loginStartPage(r)
	answer, err := b.auth.Get(begin.Options)
	if err != nil {
		t.Fatal(err)
	}
	b.setLang("de")
	if st, msg := b.loginFinish(arID, csrf, "", answer); st != http.StatusForbidden || msg != "Ihr Konto darf sich nicht bei "+client.Name+" anmelden." {
		t.Fatalf("user outside the allowed groups: %d %q, want 403 saying so in German", st, msg)
	}
	b.setLang("en")
	// The refused answer passed the passkey check: its sign count is
	// stored all the same (clone detection compares against it).
	creds, err := app.db.CredentialsByUser(ctx, user.ID)
	if err != nil || len(creds) != 1 || creds[0].SignCount != b.auth.SignCount() || creds[0].LastUsedAt == nil {
		t.Fatalf("after the refusal: %+v %v, want sign count %d saved", creds, err, b.auth.SignCount())
	}
	g, err := app.db.CreateGroup(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.db.AddGroupMember(ctx, g.ID, user.ID); err != nil {
		t.Fatal(err)
	}
	if st, msg := b.loginFinish(arID, csrf, "", answer); st != http.StatusUnauthorized {
		t.Fatalf("the refused answer sent again: %d %q, want 401 (challenge used up)", st, msg)
	}
	body, csrf := b.page("/login?authRequestID="+arID, http.StatusOK)
	answer, err = b.auth.Get(pageBegin(t, body).Options)
	if err != nil {
		t.Fatal(err)
	}
	if st, msg := b.loginFinish(arID, csrf, "", answer); st != http.StatusOK {
		t.Fatalf("sign-in on the reloaded page: %d %q", st, msg)
	}
}
