package oidc

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

func TestSetUserinfoFromRequestClaimsByScope(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		scopes  []string
		present []string
		absent  []string
	}{
		{"openid only", []string{"openid"}, []string{"sub", "sid", "department"}, []string{"name", "email", "groups", "preferred_username", "locale"}},
		{"profile", []string{"openid", "profile"}, []string{"name", "preferred_username", "updated_at", "locale"}, []string{"email", "groups"}},
		{"email", []string{"openid", "email"}, []string{"email", "email_verified"}, []string{"name", "groups"}},
		{"groups", []string{"openid", "groups"}, []string{"groups"}, []string{"email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, code := e.completed(e.conf, tc.scopes...)
			ar := e.redeem(code)
			info := new(oidc.UserInfo)
			if err := e.s.SetUserinfoFromRequest(e.ctx, info, ar, tc.scopes); err != nil {
				t.Fatal(err)
			}
			claims := toMap(t, info)
			for _, k := range tc.present {
				if _, ok := claims[k]; !ok {
					t.Errorf("claim %q missing from %v", k, claims)
				}
			}
			for _, k := range tc.absent {
				if _, ok := claims[k]; ok {
					t.Errorf("claim %q present in %v", k, claims)
				}
			}
			if claims["sub"] != e.user.ID || claims["sid"] != e.session.ID {
				t.Errorf("sub/sid = %v/%v", claims["sub"], claims["sid"])
			}
			if v, ok := claims["email"]; ok && v != "alice@example.com" {
				t.Errorf("custom claim overrode email: %v", v)
			}
			if g, ok := claims["groups"].([]any); ok && !slices.Contains(g, any("staff")) {
				t.Errorf("groups = %v", g)
			}
		})
	}
}

func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSetUserinfoFromToken(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.conf, "openid", "email")
	id, _, err := e.s.CreateAccessToken(e.ctx, e.redeem(code))
	if err != nil {
		t.Fatal(err)
	}
	info := new(oidc.UserInfo)
	if err := e.s.SetUserinfoFromToken(e.ctx, info, id, e.user.ID, ""); err != nil {
		t.Fatal(err)
	}
	if info.Subject != e.user.ID || info.Email != "alice@example.com" || info.Name != "" {
		t.Fatalf("userinfo %+v", info)
	}
	if err := e.s.SetUserinfoFromToken(e.ctx, new(oidc.UserInfo), id, "someone-else", ""); err == nil {
		t.Fatal("token accepted for another subject")
	}
	// A forged or altered token ID is refused before any lookup.
	f := strings.Split(id, ".")
	later := slices.Clone(f)
	later[4] += "0" // a longer life
	for _, bad := range []string{"", "garbage", id + "x", "c" + id[1:], strings.Join(later, "."), strings.Join(f[:len(f)-1], ".")} {
		err = e.s.SetUserinfoFromToken(e.ctx, new(oidc.UserInfo), bad, e.user.ID, "")
		wantOAuthError(t, err, "invalid_token")
	}
	if oe := e.s.RevokeToken(e.ctx, id, e.user.ID, e.conf.ID); oe != nil {
		t.Fatal(oe)
	}
	err = e.s.SetUserinfoFromToken(e.ctx, new(oidc.UserInfo), id, e.user.ID, "")
	wantOAuthError(t, err, "invalid_token")
}

func TestSetIntrospectionFromToken(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.conf, "openid", "profile", "groups")
	id, exp, err := e.s.CreateAccessToken(e.ctx, e.redeem(code))
	if err != nil {
		t.Fatal(err)
	}
	resp := new(oidc.IntrospectionResponse)
	if err := e.s.SetIntrospectionFromToken(e.ctx, resp, id, e.user.ID, e.conf.ID); err != nil {
		t.Fatal(err)
	}
	if resp.Subject != e.user.ID || resp.ClientID != e.conf.ID || !slices.Contains(resp.Scope, "groups") ||
		!resp.Expiration.AsTime().Equal(exp) || resp.IssuedAt.AsTime().IsZero() || !slices.Contains(resp.Audience, e.conf.ID) ||
		resp.PreferredUsername != "alice" || resp.Claims["groups"] == nil || resp.Claims["sid"] != e.session.ID {
		t.Fatalf("introspection %+v", resp)
	}
	// another client learns nothing
	if err := e.s.SetIntrospectionFromToken(e.ctx, new(oidc.IntrospectionResponse), id, e.user.ID, e.pub.ID); err == nil {
		t.Fatal("foreign client introspected the token")
	}
	// disabled user → inactive
	if err := e.db.SetUserDisabled(e.ctx, e.user.ID, true); err != nil {
		t.Fatal(err)
	}
	err = e.s.SetIntrospectionFromToken(e.ctx, new(oidc.IntrospectionResponse), id, e.user.ID, e.conf.ID)
	var oe *oidc.Error
	if !errors.As(err, &oe) {
		t.Fatalf("disabled user: %v", err)
	}
}
