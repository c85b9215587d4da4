package models

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestUserCreateAndLookup(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	u := &User{Username: " Alice ", Email: "alice@example.com"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice" || len(u.WebAuthnID) != 64 || u.ID == "" {
		t.Fatalf("unexpected user %+v", u)
	}
	if err := db.CreateUser(ctx, &User{Username: "alice"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate username: got %v, want ErrConflict", err)
	}
	for _, bad := range []string{"", "has space", string(make([]byte, 65))} {
		if err := db.CreateUser(ctx, &User{Username: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("username %q: got %v, want ErrInvalid", bad, err)
		}
	}
	got, err := db.UserByWebAuthnID(ctx, u.WebAuthnID)
	if err != nil || got.ID != u.ID {
		t.Fatalf("by handle: %v %v", got, err)
	}
	if _, err := db.UserByID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing user: %v", err)
	}
	if err := db.SetUserGroups(ctx, u.ID, []string{"staff", "ops"}); err != nil {
		t.Fatal(err)
	}
	got, _ = db.UserByID(ctx, u.ID)
	if len(got.GroupNames()) != 2 {
		t.Fatalf("groups = %v", got.GroupNames())
	}
	// A renamed group keeps working for memberships by its new name.
	if err := db.Gorm().Model(&Group{}).Where("name = ?", "ops").Update("name", "operations").Error; err != nil {
		t.Fatal(err)
	}
	if err := db.SetUserGroups(ctx, u.ID, []string{"operations"}); err != nil {
		t.Fatalf("membership by a renamed group's name: %v", err)
	}
	got, _ = db.UserByID(ctx, u.ID)
	if names := got.GroupNames(); len(names) != 1 || names[0] != "operations" {
		t.Fatalf("groups after rename = %v", names)
	}
}

func TestCeremonyConsumedOnce(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	c := &Ceremony{Kind: CeremonyLogin, SessionData: []byte("{}"), CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Minute)}
	if err := db.CreateCeremony(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ConsumeCeremony(ctx, c.ID, CeremonyRegistration); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong kind: %v", err)
	}
	got, err := db.ConsumeCeremony(ctx, c.ID, CeremonyLogin)
	if err != nil || string(got.SessionData) != "{}" {
		t.Fatalf("consume: %v %v", got, err)
	}
	if _, err := db.ConsumeCeremony(ctx, c.ID, CeremonyLogin); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replay: %v", err)
	}
	c2 := &Ceremony{Kind: CeremonyLogin, SessionData: []byte("{}"), CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Minute)}
	_ = db.CreateCeremony(ctx, c2)
	clock.Advance(2 * time.Minute)
	if _, err := db.ConsumeCeremony(ctx, c2.ID, CeremonyLogin); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}

func TestSetupTokenSingleUse(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	u := &User{Username: "bob"}
	_ = db.CreateUser(ctx, u)
	raw, st, err := db.CreateSetupToken(ctx, u.ID, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetupTokenByRaw(ctx, raw); err != nil {
		t.Fatal(err)
	}
	cred := &Credential{UserID: u.ID, CredentialID: []byte{1}, PublicKey: []byte{2}, CreatedAt: clock.Now()}
	if err := db.AddCredentialWithSetupToken(ctx, cred, st.ID); err != nil {
		t.Fatal(err)
	}
	cred2 := &Credential{UserID: u.ID, CredentialID: []byte{3}, PublicKey: []byte{2}, CreatedAt: clock.Now()}
	if err := db.AddCredentialWithSetupToken(ctx, cred2, st.ID); !errors.Is(err, ErrExpired) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := db.SetupTokenByRaw(ctx, raw); !errors.Is(err, ErrNotFound) {
		t.Fatalf("used token lookup: %v", err)
	}
	raw2, _, _ := db.CreateSetupToken(ctx, u.ID, time.Hour, "test")
	raw3, _, _ := db.CreateSetupToken(ctx, u.ID, time.Hour, "test")
	if _, err := db.SetupTokenByRaw(ctx, raw2); !errors.Is(err, ErrExpired) {
		t.Fatalf("superseded token: %v", err)
	}
	clock.Advance(2 * time.Hour)
	if _, err := db.SetupTokenByRaw(ctx, raw3); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestAuthCodeSingleUseRevokesTokens(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	u := &User{Username: "carol"}
	_ = db.CreateUser(ctx, u)
	cl := &Client{Name: "app", RedirectURIs: StringList{"https://app/cb"}}
	if _, err := db.CreateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	ar := &AuthRequest{ClientID: cl.ID, RedirectURI: "https://app/cb", ResponseType: "code", CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(10 * time.Minute)}
	if err := db.CreateAuthRequest(ctx, ar); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteAuthRequest(ctx, ar.ID, Completion{UserID: u.ID, SessionID: "sid", AuthTime: clock.Now(), AMR: []string{"hwk"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteAuthRequest(ctx, ar.ID, Completion{UserID: u.ID, SessionID: "sid", AuthTime: clock.Now()}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second completion: %v", err)
	}
	code := HashToken("code")
	if err := db.SaveAuthCode(ctx, ar.ID, code, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := db.RedeemAuthCode(ctx, code)
	if err != nil || got.ID != ar.ID || got.UserID == nil || *got.UserID != u.ID {
		t.Fatalf("redeem: %+v %v", got, err)
	}
	arID := ar.ID
	g := &Grant{ID: "g1", ClientID: cl.ID, UserID: u.ID, AuthRequestID: &arID, AuthTime: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)}
	if err := db.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.LiveGrant(ctx, "g1", HashToken("at"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RedeemAuthCode(ctx, code); !errors.Is(err, ErrCodeReused) {
		t.Fatalf("replay: %v", err)
	}
	if _, _, err := db.LiveGrant(ctx, "g1", HashToken("at"), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("grant after code replay: %v", err)
	}
}

func TestGrantRotation(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	u := &User{Username: "dave"}
	_ = db.CreateUser(ctx, u)
	cl := &Client{Name: "app", RedirectURIs: StringList{"https://app/cb"}}
	_, _ = db.CreateClient(ctx, cl)
	g := &Grant{ID: "f", ClientID: cl.ID, UserID: u.ID, Scopes: StringList{"openid", "groups"}, AuthTime: clock.Now(), Generation: 1,
		ExpiresAt: clock.Now().Add(time.Hour)}
	if err := db.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := db.RotateGrant(ctx, "f", 1, clock.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RotateGrant(ctx, "f", 1, clock.Now().Add(2*time.Hour)); !errors.Is(err, ErrConflict) {
		t.Fatalf("rotating generation 1 twice: %v", err)
	}
	got, user, err := db.LiveGrant(ctx, "f", nil, func(g *Grant) bool { return g.Scopes.Contains("groups") })
	if err != nil || got.Generation != 2 || !got.ExpiresAt.Equal(clock.Now().Add(2*time.Hour)) || user.ID != u.ID || user.Groups == nil {
		t.Fatalf("after rotation: %+v %+v %v", got, user, err)
	}
	// An access token revoked on its own leaves the grant to the others.
	if err := db.RevokeAccessToken(ctx, HashToken("a1"), clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeAccessToken(ctx, HashToken("a1"), clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, _, err := db.LiveGrant(ctx, "f", HashToken("a1"), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked access token: %v", err)
	}
	if _, _, err := db.LiveGrant(ctx, "f", HashToken("a2"), nil); err != nil {
		t.Fatalf("other access token: %v", err)
	}
	if err := db.RevokeGrant(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.LiveGrant(ctx, "f", nil, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("grant after revocation: %v", err)
	}
	if err := db.RotateGrant(ctx, "f", 2, clock.Now().Add(time.Hour)); !errors.Is(err, ErrConflict) {
		t.Fatalf("rotating a revoked grant: %v", err)
	}
	// An expired grant is not live and cannot rotate.
	g2 := &Grant{ID: "old", ClientID: cl.ID, UserID: u.ID, AuthTime: clock.Now(), Generation: 1, ExpiresAt: clock.Now().Add(time.Minute)}
	if err := db.CreateGrant(ctx, g2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, _, err := db.LiveGrant(ctx, "old", nil, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired grant: %v", err)
	}
	if err := db.RotateGrant(ctx, "old", 1, clock.Now().Add(time.Hour)); !errors.Is(err, ErrConflict) {
		t.Fatalf("rotating an expired grant: %v", err)
	}
}

func TestDisableUserRevokesEverything(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	u := &User{Username: "erin"}
	_ = db.CreateUser(ctx, u)
	cl := &Client{Name: "app", RedirectURIs: StringList{"https://app/cb"}}
	_, _ = db.CreateClient(ctx, cl)
	s := &Session{UserID: u.ID, AuthTime: clock.Now()}
	raw, err := db.CreateSession(ctx, s, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateGrant(ctx, &Grant{ID: "a", ClientID: cl.ID, UserID: u.ID, SessionID: &s.ID, AuthTime: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.LiveGrant(ctx, "a", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ActiveSession(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if err := db.SetUserDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ActiveSession(ctx, raw); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session of disabled user: %v", err)
	}
	if _, err := db.GrantByID(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("grant of disabled user: %v", err)
	}
}

func TestSecretValueStable(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	n := 0
	gen := func() ([]byte, error) { n++; return []byte{byte(n)}, nil }
	a, err := db.SecretValue(ctx, "k", gen)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := db.SecretValue(ctx, "k", gen)
	if string(a) != string(b) || n != 1 {
		t.Fatalf("secret changed: %v %v (gen called %d)", a, b, n)
	}
}

func TestSealer(t *testing.T) {
	key := make([]byte, 32)
	s, _ := NewSealer(key)
	ct := s.Seal([]byte("private"), []byte("kid1"))
	if pt, err := s.Open(ct, []byte("kid1")); err != nil || string(pt) != "private" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := s.Open(ct, []byte("kid2")); err == nil {
		t.Fatal("opened with wrong aad")
	}
	path := filepath.Join(t.TempDir(), "sub", MasterKeyFile)
	k1, created, err := LoadOrCreateMasterKeyFile(path)
	if err != nil || !created || len(k1) != 32 {
		t.Fatalf("create key: %v %v", created, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	k2, created, _ := LoadOrCreateMasterKeyFile(path)
	if created || string(k1) != string(k2) {
		t.Fatal("key not reloaded")
	}
}

// The sign-in challenge stored in an auth request is used at most once:
// completing the request with it clears it, a completion naming another
// challenge is refused, and a refused answer clears only the challenge it
// answered (WebAuthn L3 §13.4.3; passkeys/bound.go).
func TestLoginChallengeSingleUse(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	u := &User{Username: "dave"}
	_ = db.CreateUser(ctx, u)
	cl := &Client{Name: "app", RedirectURIs: StringList{"https://app/cb"}}
	if _, err := db.CreateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	exp := clock.Now().Add(5 * time.Minute)
	first, second := []byte("challenge-one-0123456789abcdef01"), []byte("challenge-two-0123456789abcdef01")
	ar := &AuthRequest{ClientID: cl.ID, RedirectURI: "https://app/cb", ResponseType: "code", CreatedAt: clock.Now(),
		ExpiresAt: clock.Now().Add(10 * time.Minute), LoginChallenge: first, LoginChallengeExpiresAt: &exp}
	if err := db.CreateAuthRequest(ctx, ar); err != nil {
		t.Fatal(err)
	}
	stored := func() *AuthRequest {
		t.Helper()
		got, err := db.AuthRequestByID(ctx, ar.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := stored(); string(got.LoginChallenge) != string(first) || got.LoginChallengeExpiresAt == nil || !got.LoginChallengeExpiresAt.Equal(exp) {
		t.Fatalf("stored challenge %q expiring %v", got.LoginChallenge, got.LoginChallengeExpiresAt)
	}
	if err := db.SetLoginChallenge(ctx, ar.ID, second, exp); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteAuthRequest(ctx, ar.ID, Completion{UserID: u.ID, SessionID: "sid", AuthTime: clock.Now(), Challenge: first}); !errors.Is(err, ErrConflict) {
		t.Fatalf("completion with a replaced challenge: %v, want ErrConflict", err)
	}
	if err := db.ClearLoginChallenge(ctx, ar.ID, first); err != nil {
		t.Fatal(err)
	}
	if got := stored(); string(got.LoginChallenge) != string(second) || got.Done {
		t.Fatalf("clearing an old challenge changed the request: %+v", got)
	}
	if err := db.ClearLoginChallenge(ctx, ar.ID, second); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got.LoginChallenge != nil || got.LoginChallengeExpiresAt != nil {
		t.Fatalf("refused challenge kept: %q", got.LoginChallenge)
	}
	if err := db.CompleteAuthRequest(ctx, ar.ID, Completion{UserID: u.ID, SessionID: "sid", AuthTime: clock.Now(), Challenge: second}); !errors.Is(err, ErrConflict) {
		t.Fatalf("completion with a refused challenge: %v, want ErrConflict", err)
	}
	third := []byte("challenge-three-0123456789abcdef")
	if err := db.SetLoginChallenge(ctx, ar.ID, third, exp); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteAuthRequest(ctx, ar.ID, Completion{UserID: u.ID, SessionID: "sid", AuthTime: clock.Now(), AMR: []string{"hwk"}, Challenge: third}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.IssueAuthCode(ctx, ar.ID, HashToken("code-3"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := stored(); !got.Done || got.LoginChallenge != nil || got.LoginChallengeExpiresAt != nil {
		t.Fatalf("completed request keeps its challenge: %+v", got)
	}
	// The code issued after the completion is redeemable once.
	if got, err := db.RedeemAuthCode(ctx, HashToken("code-3")); err != nil || got.ID != ar.ID || got.SessionID == nil || *got.SessionID != "sid" {
		t.Fatalf("redeem the code issued with the sign-in: %+v %v", got, err)
	}
	if err := db.SetLoginChallenge(ctx, ar.ID, first, exp); !errors.Is(err, ErrNotFound) {
		t.Fatalf("new challenge for a completed request: %v, want ErrNotFound", err)
	}
}
