package idp

import (
	"context"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// grant is what an RP holds after one sign-in.
type grant struct {
	tok *oauth2.Token
	sid string
}

func (r *rp) signInGrant(b *browser) grant {
	r.t.Helper()
	authURL, f := r.authURL()
	tok, idt := r.exchange(b.signIn(authURL), f)
	var cl idClaims
	_ = idt.Claims(&cl)
	return grant{tok: tok, sid: cl.SID}
}

// assertGrant checks whether userinfo, introspection and the refresh token
// of g work (live) or are all refused (revoked). It never refreshes a live
// grant, so it can be called repeatedly.
func (a *testApp) assertGrant(r *rp, clientID, secret string, g grant, live bool, what string) {
	a.t.Helper()
	_, uiErr := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(g.tok))
	active := a.introspect(clientID, secret, g.tok.AccessToken)
	if live {
		if uiErr != nil || !active {
			a.t.Fatalf("%s: a grant that should be untouched is refused (userinfo %v, active %v)", what, uiErr, active)
		}
		return
	}
	if uiErr == nil {
		a.t.Errorf("%s: userinfo still accepts the access token", what)
	}
	if active {
		a.t.Errorf("%s: introspection still says active", what)
	}
	if _, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: g.tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		a.t.Errorf("%s: refresh token still works (%v)", what, err)
	}
}

func TestInstantRevocation(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	enroll := func(name string) (*models.User, *browser) {
		u, setup := app.newUser(name, false)
		b := app.newBrowser()
		b.register(setup)
		return u, b
	}
	bystanderUser, bystanderBrowser := enroll("bystander")
	bystander := r.signInGrant(bystanderBrowser)
	_ = bystanderUser

	t.Run("disabling the user", func(t *testing.T) {
		u, b := enroll("dana")
		g := r.signInGrant(b)
		app.assertGrant(r, client.ID, secret, g, true, "before")
		if err := app.db.SetUserDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		app.assertGrant(r, client.ID, secret, g, false, "user disabled")
		app.assertGrant(r, client.ID, secret, bystander, true, "other user")
	})

	t.Run("deleting the passkey the session used", func(t *testing.T) {
		u, b := enroll("eli")
		g := r.signInGrant(b)
		// A second passkey of the same user, with its own session and tokens.
		other := app.newBrowser()
		setup2, err := IssueSetupLink(ctx, app.db, app.issuer, u.ID, time.Hour, "test")
		if err != nil {
			t.Fatal(err)
		}
		other.register(setup2)
		g2 := r.signInGrant(other)
		creds, _ := app.db.CredentialsByUser(ctx, u.ID)
		if len(creds) != 2 {
			t.Fatalf("%d passkeys", len(creds))
		}
		sess, _ := app.db.SessionByID(ctx, g.sid)
		if sess.CredentialID == nil {
			t.Fatal("session does not record its passkey")
		}
		if err := app.db.DeleteCredential(ctx, u.ID, *sess.CredentialID); err != nil {
			t.Fatal(err)
		}
		app.assertGrant(r, client.ID, secret, g, false, "passkey deleted")
		app.assertGrant(r, client.ID, secret, g2, true, "session of the other passkey")
	})

	t.Run("ending the session (logout)", func(t *testing.T) {
		_, b := enroll("fay")
		g := r.signInGrant(b)
		other := r.signInGrant(app.newBrowserFor(b)) // same user, another device
		if other.sid == g.sid {
			t.Fatal("expected two sessions")
		}
		if err := app.db.EndSession(ctx, g.sid); err != nil {
			t.Fatal(err)
		}
		app.assertGrant(r, client.ID, secret, g, false, "session ended")
		app.assertGrant(r, client.ID, secret, other, true, "the user's other session")
	})

	t.Run("revoking the refresh token", func(t *testing.T) {
		app, r := app.in(t), r.in(t)
		_, b := enroll("gus")
		g := r.signInGrant(b.in(t))
		app.revoke(client.ID, secret, g.tok.RefreshToken)
		app.assertGrant(r, client.ID, secret, g, false, "refresh token revoked")
		app.assertGrant(r, client.ID, secret, bystander, true, "other user")
	})

	t.Run("revoking the access token", func(t *testing.T) {
		_, b := enroll("hal")
		g := r.signInGrant(b)
		app.revoke(client.ID, secret, g.tok.AccessToken)
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(g.tok)); err == nil {
			t.Error("userinfo accepts a revoked access token")
		}
		if app.introspect(client.ID, secret, g.tok.AccessToken) {
			t.Error("introspection says a revoked access token is active")
		}
	})

	// Userinfo refuses with 401 and WWW-Authenticate (RFC 6750 §3.1).
	req, _ := http.NewRequest(http.MethodGet, app.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+bystander.tok.AccessToken+"x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("userinfo with a bad token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// newBrowserFor is a second device of the same user: a fresh cookie jar
// with the same passkey (a synced passkey).
func (a *testApp) newBrowserFor(b *browser) *browser {
	nb := a.newBrowser()
	nb.auth = b.auth
	return nb
}
