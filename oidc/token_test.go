package oidc

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

func TestCreateAccessToken(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.conf, "openid", "profile")
	ar := e.redeem(code)
	id, exp, err := e.s.CreateAccessToken(e.ctx, ar)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(e.clock.Now().Add(10 * time.Minute)) {
		t.Fatalf("expiry %v", exp)
	}
	at, err := e.active(id)
	if err != nil {
		t.Fatal(err)
	}
	g := at.grant
	if g.ClientID != e.conf.ID || g.UserID != e.user.ID || deref(g.SessionID) != e.session.ID || deref(g.AuthRequestID) != ar.GetID() ||
		!slices.Contains(at.scopes, "profile") || !g.Audience.Contains(e.conf.ID) || g.Generation != 0 || at.id.scopes != nil ||
		!g.ExpiresAt.Equal(exp) {
		t.Fatalf("grant %+v of access token %+v", g, at)
	}
	// client-specific TTL
	e.conf.AccessTokenTTL = 60
	if err := e.db.SaveClient(e.ctx, e.conf); err != nil {
		t.Fatal(err)
	}
	_, exp, err = e.s.CreateAccessToken(e.ctx, ar)
	if err != nil || !exp.Equal(e.clock.Now().Add(time.Minute)) {
		t.Fatalf("client TTL: %v %v", exp, err)
	}
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.pub, "openid", "profile", "offline_access")
	ar := e.redeem(code)
	at1, rt1, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, ar, "")
	if err != nil {
		t.Fatal(err)
	}
	a1, err := e.active(at1)
	if err != nil {
		t.Fatal(err)
	}
	row1 := a1.grant
	if row1.Generation != 1 || !strings.HasPrefix(rt1, row1.ID+".1.") || row1.LegacyHash != nil {
		t.Fatalf("grant %+v of the first refresh token %q", row1, rt1)
	}

	req, err := e.s.TokenRequestByRefreshToken(e.ctx, rt1)
	if err != nil {
		t.Fatal(err)
	}
	if req.GetSubject() != e.user.ID || req.GetClientID() != e.pub.ID || len(req.GetAMR()) != 2 {
		t.Fatalf("refresh request %+v", req)
	}
	req.SetCurrentScopes([]string{"openid", "offline_access"})
	at2, rt2, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, req, rt1)
	if err != nil {
		t.Fatal(err)
	}
	if rt2 == rt1 || at2 == at1 {
		t.Fatal("tokens not rotated")
	}
	a2, err := e.active(at2)
	if err != nil {
		t.Fatal(err)
	}
	if row2 := a2.grant; row2.ID != row1.ID || row2.Generation != 2 || !row2.Scopes.Contains("profile") || slices.Contains(a2.scopes, "profile") {
		t.Fatalf("rotated grant %+v, access token scopes %v", row2, a2.scopes)
	}
	if _, err := e.active(at1); err != nil {
		t.Fatalf("the first access token after rotation: %v", err)
	}
	// concurrent second use of the same request object: the rotate fails
	_, _, _, err = e.s.CreateAccessAndRefreshTokens(e.ctx, req, rt1)
	wantOAuthError(t, err, "invalid_grant")

	// replay of the rotated-out token revokes the whole family and is audited
	_, err = e.s.TokenRequestByRefreshToken(e.ctx, rt1)
	wantOAuthError(t, err, "invalid_grant")
	_, err = e.s.TokenRequestByRefreshToken(e.ctx, rt2)
	wantOAuthError(t, err, "invalid_grant")
	for _, id := range []string{at1, at2} {
		if _, err := e.active(id); err == nil {
			t.Fatalf("access token %s survived refresh reuse", id)
		}
	}
	evs, _ := e.db.AuditEvents(e.ctx, models.AuditFilter{Type: models.EventRefreshReuse})
	if len(evs) == 0 || evs[len(evs)-1].Success || evs[len(evs)-1].Detail["family_id"] != row1.ID {
		t.Fatalf("audit %+v", evs)
	}
}

func TestTokenRequestByRefreshTokenRefused(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
	}{
		{"user disabled", func(e *env) { _ = e.db.SetUserDisabled(e.ctx, e.user.ID, true) }},
		{"session ended", func(e *env) { _ = e.db.EndSession(e.ctx, e.session.ID) }},
		{"expired", func(e *env) { e.clock.Advance(721 * time.Hour) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, code := e.completed(e.conf, "openid", "offline_access")
			_, rt, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, e.redeem(code), "")
			if err != nil {
				t.Fatal(err)
			}
			tc.setup(e)
			_, err = e.s.TokenRequestByRefreshToken(e.ctx, rt)
			wantOAuthError(t, err, "invalid_grant")
		})
	}
	e := newEnv(t)
	_, err := e.s.TokenRequestByRefreshToken(e.ctx, models.NewToken())
	wantOAuthError(t, err, "invalid_grant")
}

func TestGetRefreshTokenInfo(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.conf, "openid", "offline_access")
	atID, rt, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, e.redeem(code), "")
	if err != nil {
		t.Fatal(err)
	}
	userID, tokenID, err := e.s.GetRefreshTokenInfo(e.ctx, e.conf.ID, rt)
	if err != nil || userID != e.user.ID || tokenID == "" {
		t.Fatalf("info = %q %q %v", userID, tokenID, err)
	}
	for _, tok := range []string{atID, "garbage", models.NewToken()} {
		if _, _, err := e.s.GetRefreshTokenInfo(e.ctx, e.conf.ID, tok); !errors.Is(err, op.ErrInvalidRefreshToken) {
			t.Fatalf("token %q: err = %v, want ErrInvalidRefreshToken", tok, err)
		}
	}
}

func TestRevokeToken(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.conf, "openid", "offline_access")
	atID, rt, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, e.redeem(code), "")
	if err != nil {
		t.Fatal(err)
	}
	_, code2 := e.completed(e.conf, "openid")
	at2, _, err := e.s.CreateAccessToken(e.ctx, e.redeem(code2))
	if err != nil {
		t.Fatal(err)
	}

	// another client may not revoke them
	if oe := e.s.RevokeToken(e.ctx, rt, "", e.pub.ID); oe == nil || oe.ErrorType != "unauthorized_client" {
		t.Fatalf("foreign refresh revoke: %v", oe)
	}
	if oe := e.s.RevokeToken(e.ctx, at2, e.user.ID, e.pub.ID); oe == nil || oe.ErrorType != "unauthorized_client" {
		t.Fatalf("foreign access revoke: %v", oe)
	}
	// unknown tokens are fine (RFC 7009 §2.2)
	if oe := e.s.RevokeToken(e.ctx, "nope", "", e.conf.ID); oe != nil {
		t.Fatalf("unknown token: %v", oe)
	}
	// access token revocation marks only that token
	if oe := e.s.RevokeToken(e.ctx, at2, e.user.ID, e.conf.ID); oe != nil {
		t.Fatal(oe)
	}
	if _, err := e.active(at2); err == nil {
		t.Fatal("access token not revoked")
	}
	if _, err := e.active(atID); err != nil {
		t.Fatal("unrelated access token revoked")
	}
	// refresh revocation revokes the family and its access tokens
	_, tokenID, _ := e.s.GetRefreshTokenInfo(e.ctx, e.conf.ID, rt)
	if oe := e.s.RevokeToken(e.ctx, tokenID, e.user.ID, e.conf.ID); oe != nil {
		t.Fatal(oe)
	}
	if _, err := e.active(atID); err == nil {
		t.Fatal("family access token survived")
	}
	if _, err := e.s.TokenRequestByRefreshToken(e.ctx, rt); err == nil {
		t.Fatal("refresh token not revoked")
	}
	if _, _, err := e.s.GetRefreshTokenInfo(e.ctx, e.conf.ID, rt); !errors.Is(err, op.ErrInvalidRefreshToken) {
		t.Fatalf("revoked refresh token still known: %v", err)
	}
}

// TestRefreshReuseOfAnyEarlierToken: the grant is one row, yet a token of
// any earlier generation (not only the last rotated one) is recognised as
// a replay and revokes the grant; a forged token naming the grant and an
// earlier generation is refused without revoking anything.
func TestRefreshReuseOfAnyEarlierToken(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.pub, "openid", "offline_access")
	_, rt, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, e.redeem(code), "")
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{rt}
	for range 3 {
		req, err := e.s.TokenRequestByRefreshToken(e.ctx, rt)
		if err != nil {
			t.Fatal(err)
		}
		if _, rt, _, err = e.s.CreateAccessAndRefreshTokens(e.ctx, req, rt); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, rt)
	}
	grantID := strings.SplitN(rt, ".", 2)[0]
	// Forgeries: an earlier generation with a made-up MAC, a later one,
	// the current token altered.
	forged := []string{grantID + ".1." + strings.Repeat("A", 43), grantID + ".9." + strings.Repeat("A", 43), rt[:len(rt)-1] + "B", grantID}
	for _, f := range forged {
		_, err := e.s.TokenRequestByRefreshToken(e.ctx, f)
		wantOAuthError(t, err, "invalid_grant")
	}
	if _, err := e.s.TokenRequestByRefreshToken(e.ctx, rt); err != nil {
		t.Fatalf("the current token after forgeries: %v", err)
	}
	// The first token, three rotations ago, is a replay.
	_, err = e.s.TokenRequestByRefreshToken(e.ctx, tokens[0])
	wantOAuthError(t, err, "invalid_grant")
	if _, err := e.db.GrantByID(e.ctx, grantID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("grant after replay of generation 1: %v", err)
	}
	_, err = e.s.TokenRequestByRefreshToken(e.ctx, rt)
	wantOAuthError(t, err, "invalid_grant")
	evs, _ := e.db.AuditEvents(e.ctx, models.AuditFilter{Type: models.EventRefreshReuse})
	if len(evs) != 1 || evs[0].Detail["family_id"] != grantID {
		t.Fatalf("reuse audit %+v", evs)
	}
	// Purged, the grant still refuses every token of it.
	if _, err := e.db.Purge(e.ctx, models.PurgeOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		_, err := e.s.TokenRequestByRefreshToken(e.ctx, tok)
		wantOAuthError(t, err, "invalid_grant")
	}
}

// TestRefreshExpiredThenPurged: a grant that expired is refused, then
// purged, and its token is still refused.
func TestRefreshExpiredThenPurged(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.conf, "openid", "offline_access")
	_, rt, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, e.redeem(code), "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(721 * time.Hour)
	counts, err := e.db.Purge(e.ctx, models.PurgeOptions{})
	if err != nil || counts["grants"] != 1 {
		t.Fatalf("purge: %v %v", counts, err)
	}
	_, err = e.s.TokenRequestByRefreshToken(e.ctx, rt)
	wantOAuthError(t, err, "invalid_grant")
}

// TestLegacyRefreshToken: a refresh token of the format before grants
// (migration 00010 carried it over by its hash) still refreshes once,
// moving its grant to the new format.
func TestLegacyRefreshToken(t *testing.T) {
	e := newEnv(t)
	legacy := models.NewToken()
	g := &models.Grant{ID: models.NewTimeOrderedID(), ClientID: e.conf.ID, UserID: e.user.ID, SessionID: &e.session.ID,
		Scopes: models.StringList{"openid", "offline_access"}, Audience: models.StringList{e.conf.ID}, AuthTime: e.clock.Now(),
		LegacyHash: models.HashToken(legacy), ExpiresAt: e.clock.Now().Add(time.Hour)}
	if err := e.db.CreateGrant(e.ctx, g); err != nil {
		t.Fatal(err)
	}
	req, err := e.s.TokenRequestByRefreshToken(e.ctx, legacy)
	if err != nil {
		t.Fatal(err)
	}
	_, next, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, req, legacy)
	if err != nil || !strings.HasPrefix(next, g.ID+".1.") {
		t.Fatalf("rotated legacy token: %q %v", next, err)
	}
	if _, err := e.s.TokenRequestByRefreshToken(e.ctx, next); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.TokenRequestByRefreshToken(e.ctx, legacy)
	wantOAuthError(t, err, "invalid_grant")
}

func TestAccessTokenIDRoundTrip(t *testing.T) {
	k := newTokenKeys([32]byte{1})
	now := time.Unix(1_800_000_000, 0).UTC()
	for _, in := range []accessTokenID{
		{grant: "0190-abc", generation: 3, issued: now, expires: now.Add(time.Hour)},
		{grant: "0190-abc", generation: 0, issued: now, expires: now.Add(time.Hour), scopes: []string{"openid", "email"}},
		{random: "r4nd0m", issued: now, expires: now.Add(time.Minute), scopes: []string{}, audience: []string{"https://api"}},
		{random: "r4nd0m", issued: now, expires: now.Add(time.Minute), scopes: []string{"read", "write"}, audience: []string{"a", "b"}},
	} {
		id := k.encode(in)
		out, err := k.decode(id)
		if err != nil || !reflect.DeepEqual(in, out) {
			t.Fatalf("%q: %+v %v, want %+v", id, out, err, in)
		}
		if _, err := newTokenKeys([32]byte{2}).decode(id); err == nil {
			t.Fatalf("%q decoded under another key", id)
		}
		if strings.Contains(id, ":") {
			t.Fatalf("%q holds a colon, which op's opaque tokens split on", id)
		}
	}
}
