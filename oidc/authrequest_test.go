package oidc

import (
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

func TestCreateAuthRequest(t *testing.T) {
	e := newEnv(t)
	s256 := challenge(verifier)
	tests := []struct {
		name     string
		client   *models.Client
		redirect string
		chal     string
		method   oidc.CodeChallengeMethod
		scopes   []string
		wantErr  string // OAuth error type, "" for success
	}{
		{"confidential S256", e.conf, "https://app.example.com/cb", s256, oidc.CodeChallengeMethodS256, []string{"openid", "profile"}, ""},
		{"confidential without PKCE", e.conf, "https://app.example.com/cb", "", "", []string{"openid"}, ""},
		{"public S256", e.pub, "http://127.0.0.1/callback", s256, oidc.CodeChallengeMethodS256, []string{"openid"}, ""},
		{"plain refused", e.conf, "https://app.example.com/cb", verifier, oidc.CodeChallengeMethodPlain, []string{"openid"}, "invalid_request"},
		{"missing method refused", e.conf, "https://app.example.com/cb", s256, "", []string{"openid"}, "invalid_request"},
		{"unknown method refused", e.conf, "https://app.example.com/cb", s256, "S512", []string{"openid"}, "invalid_request"},
		{"malformed challenge", e.conf, "https://app.example.com/cb", "short", oidc.CodeChallengeMethodS256, []string{"openid"}, "invalid_request"},
		{"public without challenge", e.pub, "http://127.0.0.1/callback", "", "", []string{"openid"}, "invalid_request"},
		{"unregistered redirect", e.conf, "https://evil.example.com/cb", s256, oidc.CodeChallengeMethodS256, []string{"openid"}, "invalid_request"},
		{"no openid scope", e.conf, "https://app.example.com/cb", s256, oidc.CodeChallengeMethodS256, []string{"profile"}, "invalid_scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &oidc.AuthRequest{
				ClientID: tc.client.ID, RedirectURI: tc.redirect, ResponseType: oidc.ResponseTypeCode,
				Scopes: tc.scopes, State: "xyz", Nonce: "abc", CodeChallenge: tc.chal, CodeChallengeMethod: tc.method,
				Prompt: []string{"login"}, MaxAge: oidc.NewMaxAge(300), LoginHint: "alice", ResponseMode: oidc.ResponseModeFormPost,
			}
			ar, err := e.s.CreateAuthRequest(e.ctx, req, "")
			if tc.wantErr != "" {
				wantOAuthError(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := e.db.AuthRequestByID(e.ctx, ar.GetID())
			if err != nil {
				t.Fatal(err)
			}
			if m.State != "xyz" || m.Nonce != "abc" || m.LoginHint != "alice" || m.MaxAge == nil || *m.MaxAge != 300 ||
				!m.Prompt.Contains("login") || m.ResponseMode != "form_post" || m.CodeChallenge != tc.chal {
				t.Fatalf("stored request lost fields: %+v", m)
			}
			if !m.ExpiresAt.Equal(e.clock.Now().Add(10 * time.Minute)) {
				t.Fatalf("expires at %v", m.ExpiresAt)
			}
		})
	}
}

func TestAuthRequestByID(t *testing.T) {
	e := newEnv(t)
	ar := e.authRequest(e.conf, "openid")
	got, err := e.s.AuthRequestByID(e.ctx, ar.GetID())
	if err != nil || got.GetID() != ar.GetID() || got.Done() {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := e.s.AuthRequestByID(e.ctx, "nope"); err == nil {
		t.Fatal("unknown request accepted")
	} else {
		wantOAuthError(t, err, "invalid_request")
	}
	e.clock.Advance(11 * time.Minute)
	_, err = e.s.AuthRequestByID(e.ctx, ar.GetID())
	wantOAuthError(t, err, "invalid_request")
}

func TestAuthRequestByCode(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env, code string)
		want  string
	}{
		{"ok", func(*env, string) {}, ""},
		{"expired after CodeTTL", func(e *env, _ string) { e.clock.Advance(61 * time.Second) }, "invalid_grant"},
		{"unknown code", nil, "invalid_grant"},
		{"user disabled", func(e *env, _ string) { _ = e.db.SetUserDisabled(e.ctx, e.user.ID, true) }, "invalid_grant"},
		{"session ended", func(e *env, _ string) { _ = e.db.EndSession(e.ctx, e.session.ID) }, "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ar, code := e.completed(e.conf, "openid")
			if tc.setup == nil {
				code = models.NewToken()
			} else {
				tc.setup(e, code)
			}
			got, err := e.s.AuthRequestByCode(e.ctx, code)
			if tc.want != "" {
				wantOAuthError(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := got.(*authRequest)
			if a.GetID() != ar.GetID() || a.GetSubject() != e.user.ID || a.GetSessionID() != e.session.ID ||
				a.GetACR() != "urn:latchkey:passkey" || len(a.GetAMR()) != 2 || a.GetAuthTime().IsZero() ||
				a.GetCodeChallenge() == nil || a.GetCodeChallenge().Method != oidc.CodeChallengeMethodS256 {
				t.Fatalf("adapter fields wrong: %+v", a.m)
			}
		})
	}
}

func TestAuthCodeReuseRevokesTokens(t *testing.T) {
	e := newEnv(t)
	_, code := e.completed(e.conf, "openid", "offline_access")
	ar := e.redeem(code)
	atID, rt, _, err := e.s.CreateAccessAndRefreshTokens(e.ctx, ar, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.AuthRequestByCode(e.ctx, code)
	wantOAuthError(t, err, "invalid_grant")
	if _, err := e.active(atID); err == nil {
		t.Fatalf("access token still active after code reuse: %v", err)
	}
	_, err = e.s.TokenRequestByRefreshToken(e.ctx, rt)
	wantOAuthError(t, err, "invalid_grant")
	evs, _ := e.db.AuditEvents(e.ctx, models.AuditFilter{Type: models.EventCodeReuse})
	if len(evs) != 1 || evs[0].Success || evs[0].UserID != e.user.ID {
		t.Fatalf("audit events = %+v", evs)
	}
}

func TestSaveAuthCodeTwice(t *testing.T) {
	e := newEnv(t)
	ar, _ := e.completed(e.conf, "openid")
	err := e.s.SaveAuthCode(e.ctx, ar.GetID(), models.NewToken())
	wantOAuthError(t, err, "invalid_request")
	// a pending (not completed) request gets no code either
	pending := e.authRequest(e.conf, "openid")
	wantOAuthError(t, e.s.SaveAuthCode(e.ctx, pending.GetID(), models.NewToken()), "invalid_request")
}

func TestDeleteAuthRequest(t *testing.T) {
	e := newEnv(t)
	ar := e.authRequest(e.conf, "openid")
	if err := e.s.DeleteAuthRequest(e.ctx, ar.GetID()); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.AuthRequestByID(e.ctx, ar.GetID())
	wantOAuthError(t, err, "invalid_request")
}

func TestRedirectURIMatching(t *testing.T) {
	e := newEnv(t)
	pub := &clientAdapter{m: e.pub, cfg: &e.s.cfg}
	conf := &clientAdapter{m: e.conf, cfg: &e.s.cfg}
	tests := []struct {
		name   string
		client *clientAdapter
		uri    string
		ok     bool
	}{
		{"exact", pub, "http://127.0.0.1/callback", true},
		{"loopback any port", pub, "http://127.0.0.1:51234/callback", true},
		{"ipv6 loopback any port", pub, "http://[::1]:8000/callback", true},
		{"loopback other path", pub, "http://127.0.0.1:51234/other", false},
		{"loopback extra query", pub, "http://127.0.0.1:51234/callback?x=1", false},
		{"loopback other host", pub, "http://localhost:51234/callback", false},
		{"loopback https", pub, "https://127.0.0.1:51234/callback", false},
		{"custom scheme exact", pub, "com.example.app:/cb", true},
		{"not loopback", pub, "http://127.0.0.1.evil.com/callback", false},
		{"userinfo trick", pub, "http://127.0.0.1:80@evil.com/callback", false},
		{"confidential exact", conf, "https://app.example.com/cb", true},
		{"confidential other port", conf, "https://app.example.com:444/cb", false},
		{"confidential prefix", conf, "https://app.example.com/cb/extra", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Both op's validation and ours must accept; either refusing is a refusal.
			opErr := op.ValidateAuthReqRedirectURI(tc.client, tc.uri, oidc.ResponseTypeCode)
			ours := checkRedirectURI(tc.client.m, tc.uri)
			if got := opErr == nil && ours; got != tc.ok {
				t.Fatalf("accepted = %v (op: %v, ours: %v), want %v", got, opErr, ours, tc.ok)
			}
		})
	}
}
