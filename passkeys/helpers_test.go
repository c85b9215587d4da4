package passkeys

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

const (
	testRPID   = "localhost"
	testOrigin = "http://localhost:8080"
)

// allKinds lists every error kind, to check that an error matches exactly one.
var allKinds = []error{
	ErrBadRequest, ErrCeremonyNotFound, ErrCeremonyExpired, ErrCeremonyMismatch, ErrVerification,
	ErrUnknownCredential, ErrUserDisabled, ErrCloneDetected, ErrSetupLinkInvalid, ErrInternal, ErrPolicy,
}

// fakeClock is a settable clock for expiry tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

type env struct {
	t     *testing.T
	ctx   context.Context
	db    *models.DB
	clock *fakeClock
	svc   *Service
	// optsByID keeps options JSON by ceremony ID for tests that answer
	// a ceremony again with a tampered authenticator.
	optsByID map[string][]byte
}

// newEnv opens a fresh migrated SQLite database in t.TempDir() with a fake
// clock and builds a Service for http://localhost:8080.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	db, err := models.Open(ctx, models.Options{DSN: dbtest.DSN(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeDB(t, db) })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{RPID: testRPID, RPDisplayName: "Latchkey", RPOrigins: []string{testOrigin}}, db)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, db: db, clock: clock, svc: svc}
}

func (e *env) newUser(name string) *models.User {
	e.t.Helper()
	u := &models.User{Username: name, DisplayName: "User " + name}
	if err := e.db.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// setupToken issues a setup link for u and returns its ID.
func (e *env) setupToken(u *models.User) string {
	e.t.Helper()
	_, st, err := e.db.CreateSetupToken(e.ctx, u.ID, time.Hour, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return st.ID
}

// register enrolls a new passkey on auth for u through a setup link.
func (e *env) register(u *models.User, auth *passkeytest.Authenticator) *models.Credential {
	e.t.Helper()
	id, opts, err := e.svc.BeginRegistration(e.ctx, u, e.setupToken(u))
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := auth.Create(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	cred, err := e.svc.FinishRegistration(e.ctx, id, body, "")
	if err != nil {
		e.t.Fatalf("finish registration: %v", err)
	}
	return cred
}

// login runs a whole sign-in bound to authRequestID.
func (e *env) login(auth *passkeytest.Authenticator, authRequestID string) (*LoginResult, error) {
	e.t.Helper()
	id, opts, err := e.svc.BeginLogin(e.ctx, authRequestID)
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := auth.Get(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.svc.FinishLogin(e.ctx, id, authRequestID, body)
}

func (e *env) storedCredential(credID []byte) *models.Credential {
	e.t.Helper()
	c, err := e.db.CredentialByCredentialID(e.ctx, credID)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) countCredentials(u *models.User) int {
	e.t.Helper()
	cs, err := e.db.CredentialsByUser(e.ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(cs)
}

// wantKind checks that err is an *Error of exactly kind with a message,
// and, if reason is not "", that Reason(err) is reason.
func wantKind(t *testing.T, err, kind error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", kind)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *passkeys.Error", err, err)
	}
	if pe.Message == "" {
		t.Errorf("error %v has no user message", err)
	}
	n := 0
	for _, k := range allKinds {
		if errors.Is(err, k) {
			n++
		}
	}
	if !errors.Is(err, kind) || n != 1 {
		t.Fatalf("error %v: want exactly kind %v (matches %d kinds)", err, kind, n)
	}
	if reason != "" && Reason(err) != reason {
		t.Errorf("Reason(%v) = %q, want %q", err, Reason(err), reason)
	}
}

// closeDB closes db at the end of a test, failing it if Close fails.
func closeDB(tb testing.TB, db *models.DB) {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Error(err)
	}
}
