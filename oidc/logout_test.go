package oidc

import (
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

func TestTerminateSession(t *testing.T) {
	tests := []struct {
		name       string
		hint       func(e *env) *oidc.IDTokenClaims
		redirect   string
		wantEnded  bool
		wantTarget string
	}{
		{"no hint ends browser session", nil, "", true, testIssuer + "/logged-out"},
		{"hint for same user", func(e *env) *oidc.IDTokenClaims {
			return &oidc.IDTokenClaims{TokenClaims: oidc.TokenClaims{Subject: e.user.ID}}
		}, "https://app.example.com/bye?state=s", true, "https://app.example.com/bye?state=s"},
		{"hint for other user", func(*env) *oidc.IDTokenClaims {
			return &oidc.IDTokenClaims{TokenClaims: oidc.TokenClaims{Subject: "someone-else"}}
		}, "", false, testIssuer + "/logged-out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			raw, err := e.db.CreateSession(e.ctx, &models.Session{UserID: e.user.ID, AuthTime: e.clock.Now()}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			req := &op.EndSessionRequest{ClientID: e.conf.ID, RedirectURI: tc.redirect}
			if tc.hint != nil {
				req.IDTokenHintClaims = tc.hint(e)
				req.UserID = req.IDTokenHintClaims.Subject
			}
			target, ended, err := e.s.terminateSession(e.ctx, req, raw)
			if err != nil {
				t.Fatal(err)
			}
			if target != tc.wantTarget || ended != tc.wantEnded {
				t.Fatalf("target %q ended %v, want %q %v", target, ended, tc.wantTarget, tc.wantEnded)
			}
			_, err = e.db.ActiveSession(e.ctx, raw)
			if ended := err != nil; ended != tc.wantEnded {
				t.Fatalf("session ended = %v", ended)
			}
		})
	}
}

func TestTerminateSessionBySID(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.conf, "openid", "offline_access")
	atID, _, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, e.redeem(code), "")
	if err != nil {
		t.Fatal(err)
	}
	req := &op.EndSessionRequest{
		UserID:            e.user.ID,
		ClientID:          e.conf.ID,
		IDTokenHintClaims: &oidc.IDTokenClaims{TokenClaims: oidc.TokenClaims{Subject: e.user.ID}, SessionID: e.session.ID},
	}
	if _, err := e.s.TerminateSessionFromRequest(e.ctx, req); err != nil {
		t.Fatal(err)
	}
	s, _ := e.db.SessionByID(e.ctx, e.session.ID)
	if s.EndedAt == nil {
		t.Fatal("sid session not ended")
	}
	if _, err := e.active(atID); err == nil {
		t.Fatal("token of ended session still active")
	}
	evs, _ := e.db.AuditEvents(e.ctx, models.AuditFilter{Type: models.EventSignOut})
	if len(evs) != 1 {
		t.Fatalf("audit %+v", evs)
	}
}
