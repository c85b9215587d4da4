package oidc

import (
	"errors"
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
	at, err := e.db.ActiveAccessToken(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if at.ClientID != e.conf.ID || at.Subject != e.user.ID || deref(at.SessionID) != e.session.ID ||
		deref(at.AuthRequestID) != ar.GetID() || !at.Scopes.Contains("profile") || !at.Audience.Contains(e.conf.ID) || at.FamilyID != nil {
		t.Fatalf("access token row %+v", at)
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
	row1, err := e.db.RefreshTokenByRaw(e.ctx, rt1)
	if err != nil {
		t.Fatal(err)
	}
	if row1.FamilyID != row1.ID || string(row1.TokenHash) == rt1 {
		t.Fatalf("first refresh token row %+v", row1)
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
	row2, _ := e.db.RefreshTokenByRaw(e.ctx, rt2)
	at2row, _ := e.db.AccessTokenByID(e.ctx, at2)
	if row2.FamilyID != row1.FamilyID || !row2.Scopes.Contains("profile") || at2row.Scopes.Contains("profile") {
		t.Fatalf("rotated rows: rt %+v at %+v", row2, at2row)
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
		if _, err := e.db.ActiveAccessToken(e.ctx, id); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("access token %s survived refresh reuse", id)
		}
	}
	evs, _ := e.db.AuditEvents(e.ctx, models.AuditFilter{Type: models.EventRefreshReuse})
	if len(evs) == 0 || evs[len(evs)-1].Success || evs[len(evs)-1].Detail["family_id"] != row1.FamilyID {
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
	if _, err := e.db.ActiveAccessToken(e.ctx, at2); !errors.Is(err, models.ErrNotFound) {
		t.Fatal("access token not revoked")
	}
	if _, err := e.db.ActiveAccessToken(e.ctx, atID); err != nil {
		t.Fatal("unrelated access token revoked")
	}
	// refresh revocation revokes the family and its access tokens
	_, tokenID, _ := e.s.GetRefreshTokenInfo(e.ctx, e.conf.ID, rt)
	if oe := e.s.RevokeToken(e.ctx, tokenID, e.user.ID, e.conf.ID); oe != nil {
		t.Fatal(oe)
	}
	if _, err := e.db.ActiveAccessToken(e.ctx, atID); !errors.Is(err, models.ErrNotFound) {
		t.Fatal("family access token survived")
	}
	row, _ := e.db.RefreshTokenByRaw(e.ctx, rt)
	if row.RevokedAt == nil {
		t.Fatal("refresh token not revoked")
	}
}
