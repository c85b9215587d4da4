package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/models"
)

// fakeClock is a settable clock shared by models and oidc.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one test's provider over a fresh SQLite database.
type env struct {
	t       *testing.T
	ctx     context.Context
	db      *models.DB
	clock   *fakeClock
	sealer  *models.Sealer
	p       *Provider
	s       *Storage
	user    *models.User
	session *models.Session
	conf    *models.Client // confidential, RS256, jwt access tokens
	secret  string
	pub     *models.Client // public, ES256, opaque access tokens
}

const testIssuer = "http://localhost:8080"

func newTestDB(t *testing.T) (*models.DB, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	db, err := models.Open(context.Background(), models.Options{DSN: dbtest.DSN(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, clock := newTestDB(t)
	sealer, err := models.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := New(ctx, Config{Issuer: testIssuer, Now: clock.Now}, db, sealer)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, db: db, clock: clock, sealer: sealer, p: p, s: p.storage}
	e.user = &models.User{Username: "alice", Email: "alice@example.com", EmailVerified: true, DisplayName: "Alice A", Locale: "fr",
		CustomClaims: models.JSONMap{"department": "ops", "email": "evil@example.com"}}
	if err := db.CreateUser(ctx, e.user); err != nil {
		t.Fatal(err)
	}
	if err := db.SetUserGroups(ctx, e.user.ID, []string{"staff", "admins"}); err != nil {
		t.Fatal(err)
	}
	e.session = &models.Session{UserID: e.user.ID, AuthTime: clock.Now(), AMR: models.StringList{"hwk", "user"}}
	if _, err := db.CreateSession(ctx, e.session, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.conf = &models.Client{Name: "web", RedirectURIs: models.StringList{"https://app.example.com/cb"},
		PostLogoutRedirectURIs: models.StringList{"https://app.example.com/bye"}}
	if e.secret, err = db.CreateClient(ctx, e.conf); err != nil {
		t.Fatal(err)
	}
	e.pub = &models.Client{Name: "cli", Public: true, IDTokenAlg: "ES256", AccessTokenFormat: models.AccessTokenOpaque,
		RedirectURIs: models.StringList{"http://127.0.0.1/callback", "http://[::1]/callback", "com.example.app:/cb"}}
	if _, err := db.CreateClient(ctx, e.pub); err != nil {
		t.Fatal(err)
	}
	return e
}

// verifier is a fixed PKCE verifier and its S256 challenge.
const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

func challenge(v string) string {
	h := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// authRequest creates an auth request for c with the given scopes.
func (e *env) authRequest(c *models.Client, scopes ...string) *authRequest {
	e.t.Helper()
	req := &oidc.AuthRequest{
		ClientID: c.ID, RedirectURI: c.RedirectURIs[0], ResponseType: oidc.ResponseTypeCode,
		Scopes: scopes, State: "st", Nonce: "n-0S6", CodeChallenge: challenge(verifier),
		CodeChallengeMethod: oidc.CodeChallengeMethodS256,
	}
	ar, err := e.s.CreateAuthRequest(e.ctx, req, "")
	if err != nil {
		e.t.Fatalf("create auth request: %v", err)
	}
	return ar.(*authRequest)
}

// completed returns a completed auth request with a saved code.
func (e *env) completed(c *models.Client, scopes ...string) (*authRequest, string) {
	e.t.Helper()
	ar := e.authRequest(c, scopes...)
	if err := e.db.CompleteAuthRequest(e.ctx, ar.GetID(), models.Completion{UserID: e.user.ID, SessionID: e.session.ID, AuthTime: e.clock.Now(), AMR: []string{"hwk", "user"}, ACR: "urn:latchkey:passkey"}); err != nil {
		e.t.Fatal(err)
	}
	code := models.NewToken()
	if err := e.s.SaveAuthCode(e.ctx, ar.GetID(), code); err != nil {
		e.t.Fatal(err)
	}
	return ar, code
}

// redeem exchanges a code for the auth request, failing the test on error.
func (e *env) redeem(code string) *authRequest {
	e.t.Helper()
	ar, err := e.s.AuthRequestByCode(e.ctx, code)
	if err != nil {
		e.t.Fatalf("redeem code: %v", err)
	}
	return ar.(*authRequest)
}

// wantOAuthError checks that err is an *oidc.Error of the given type.
func wantOAuthError(t *testing.T, err error, want string) {
	t.Helper()
	var oe *oidc.Error
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an *oidc.Error, want %s", err, err, want)
	}
	if string(oe.ErrorType) != want {
		t.Fatalf("error type = %s, want %s (%v)", oe.ErrorType, want, err)
	}
}

// active reports whether the access token with this ID is live for the
// environment's user, as userinfo and introspection see it.
func (e *env) active(tokenID string) (*liveAccess, error) {
	at, _, err := e.s.activeToken(e.ctx, tokenID, e.user.ID)
	return at, err
}
