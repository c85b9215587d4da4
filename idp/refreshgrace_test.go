package idp

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// refresh redeems a refresh token with r's client.
func (r *rp) refresh(rt string) (*oauth2.Token, error) {
	return r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: rt}).Token()
}

// A refresh whose response was lost and that is retried with the same
// token gets a working pair within --refresh-reuse-grace; reuse outside
// the grace, by another client, after a retry, or with the grace off still
// revokes the family (RFC 9700 §4.14.2). Both cases are audited.
func TestRefreshReuseGrace(t *testing.T) {
	app, b, _, r, _ := enrolled(t)
	ctx := context.Background()
	family := func(t *testing.T) string {
		t.Helper()
		authURL, f := r.authURL()
		tok, _ := r.in(t).exchange(b.in(t).signIn(authURL), f)
		return tok.RefreshToken
	}
	mustRefresh := func(t *testing.T, rt, what string) *oauth2.Token {
		t.Helper()
		tok, err := r.refresh(rt)
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("%s: %v", what, err)
		}
		return tok
	}
	refused := func(t *testing.T, rt, what string) {
		t.Helper()
		if _, err := r.refresh(rt); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("%s: %v, want invalid_grant", what, err)
		}
	}
	events := func(typ string) int {
		evs, err := app.db.AuditEvents(ctx, models.AuditFilter{Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}

	t.Run("a retry within the grace gets a working pair; reuse after it revokes", func(t *testing.T) {
		rt0 := family(t)
		mustRefresh(t, rt0, "refresh") // its response is lost
		tok2 := mustRefresh(t, rt0, "retry with the same token")
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok2)); err != nil {
			t.Fatalf("userinfo with the retry's access token: %v", err)
		}
		if n := events(models.EventRefreshRetry); n != 1 {
			t.Fatalf("retry audited %d times, want 1", n)
		}
		tok3 := mustRefresh(t, tok2.RefreshToken, "the retry's refresh token")
		app.clock.Advance(6 * time.Second) // past the 5 s default
		refused(t, tok2.RefreshToken, "reuse 6 s after the rotation")
		refused(t, tok3.RefreshToken, "the family after the reuse")
		if n := events(models.EventRefreshReuse); n != 1 {
			t.Fatalf("reuse audited %d times, want 1", n)
		}
	})
	t.Run("the successor a retry replaced is not retried again", func(t *testing.T) {
		rt0 := family(t)
		lost := mustRefresh(t, rt0, "refresh")
		retry := mustRefresh(t, rt0, "retry")
		refused(t, lost.RefreshToken, "the replaced successor")
		refused(t, retry.RefreshToken, "the family after the reuse")
	})
	// The grace covers a lost response only: once the successor has been
	// used, the client did get it, and the old token coming back, however
	// soon, is someone else's copy (RFC 9700 §4.14.2).
	t.Run("reuse within the grace after the successor was used revokes", func(t *testing.T) {
		rt0 := family(t)
		tok1 := mustRefresh(t, rt0, "refresh")
		tok2 := mustRefresh(t, tok1.RefreshToken, "the successor, used")
		before := events(models.EventRefreshReuse)
		refused(t, rt0, "the first token again, within the grace")
		refused(t, tok2.RefreshToken, "the family after the reuse")
		if n := events(models.EventRefreshReuse); n != before+1 {
			t.Fatalf("reuse audited %d times, want %d", n, before+1)
		}
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok2)); err == nil {
			t.Fatal("the family's access token still works after the reuse")
		}
	})
	t.Run("another client's retry revokes", func(t *testing.T) {
		rt0 := family(t)
		mustRefresh(t, rt0, "refresh")
		other, secret := app.in(t).newClient("http://localhost:9999/callback")
		o := app.in(t).newRP(other.ID, secret, "http://localhost:9999/callback")
		if _, err := o.refresh(rt0); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("another client's retry: %v", err)
		}
		refused(t, rt0, "the family after another client's reuse")
	})
}

// With --refresh-reuse-grace=0 any reuse revokes the family at once.
func TestRefreshReuseGraceOff(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.RefreshReuseGrace = -1 })
	_, setup := app.newUser("gus", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, redirect)
	authURL, f := r.authURL()
	tok, _ := r.exchange(b.signIn(authURL), f)
	next, err := r.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.refresh(tok.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("immediate retry with the grace off: %v", err)
	}
	if _, err := r.refresh(next.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("family after the reuse: %v", err)
	}
}
