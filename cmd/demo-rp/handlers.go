package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

type indexPage struct {
	SignedIn        bool
	Name            string
	Subject         string
	Claims          []claimRow
	UserInfo        string
	UserInfoErr     string
	HasRefreshToken bool
	TokenType       string
	Scope           string
	Expiry          string
	CSRF            string
	Notice          string
}

type claimRow struct {
	Name  string
	Value string // pretty JSON
	Time  string // set for NumericDate claims
}

type logoutPage struct {
	Name string
	CSRF string
}

// failure is a user-facing error page: a status, a title and safe details.
type failure struct {
	status      int
	title       string
	code        string
	description string
}

func (s *server) fail(w http.ResponseWriter, f *failure) {
	s.renderError(w, f.status, f.title, f.code, f.description)
}

func (s *server) handleIndex(w http.ResponseWriter, r *http.Request) {
	var data indexPage
	returnedState := r.URL.Query().Get("state")
	s.withSession(r, func(sess *session) {
		if sess == nil {
			return
		}
		// The provider sends the logout state back to post_logout_redirect_uri
		// (OpenID Connect RP-Initiated Logout 1.0 §3).
		if sess.logoutState != "" && returnedState != "" &&
			subtle.ConstantTimeCompare([]byte(returnedState), []byte(sess.logoutState)) == 1 {
			sess.logoutState = ""
			sess.notice = "You have been signed out at the identity provider."
		}
		data.Notice, sess.notice = sess.notice, ""
		data.CSRF = sess.csrf
		if sess.token == nil {
			return
		}
		data.SignedIn = true
		data.Name = sess.displayName
		data.Subject = sess.subject
		data.Claims = claimRows(sess.claims)
		data.UserInfo = string(sess.userInfo)
		data.UserInfoErr = sess.userInfoErr
		data.HasRefreshToken = sess.token.RefreshToken != ""
		data.TokenType = sess.token.Type()
		if scope, ok := sess.token.Extra("scope").(string); ok {
			data.Scope = scope
		}
		if !sess.token.Expiry.IsZero() {
			data.Expiry = sess.token.Expiry.UTC().Format(time.RFC3339)
		}
	})
	s.render(w, http.StatusOK, "index.html", data)
}

// handleLogin starts an authorization code request with state (CSRF, RFC 6749
// §10.12), nonce (replay, OpenID Connect Core §3.1.2.1) and PKCE S256 (code
// interception, RFC 7636), all kept server-side for the callback.
func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	d, err := s.provider(r.Context())
	if err != nil {
		s.log.Warn("provider discovery failed", "err", err)
		s.fail(w, unreachable(err))
		return
	}
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	s.newSession(w, r, func(sess *session) {
		sess.state, sess.nonce, sess.verifier = state, nonce, verifier
		sess.loginStarted = s.cfg.Now()
	})
	authURL := d.oauth2.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
}

func (s *server) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// RFC 9207 §2.4: an iss that is present, or advertised, must be our
	// issuer, errors included; otherwise the response may come from another
	// server the browser was sent to (a mix-up attack).
	if d := s.currentDiscovery(); q.Has("iss") || d != nil && d.issParam {
		if q.Get("iss") != s.cfg.Issuer {
			s.fail(w, &failure{http.StatusBadRequest, "Sign-in failed", "invalid_issuer",
				"The response does not come from the identity provider this application uses."})
			return
		}
	}
	if code := q.Get("error"); code != "" {
		s.fail(w, &failure{http.StatusBadRequest, "Sign-in failed", code, q.Get("error_description")})
		return
	}

	// The pending request is single use: consumed only when the state matches,
	// so a forged callback cannot cancel a real sign-in.
	var state, nonce, verifier string
	var started time.Time
	s.withSession(r, func(sess *session) {
		got := q.Get("state")
		if sess == nil || sess.state == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.state)) != 1 {
			return
		}
		state, nonce, verifier, started = sess.state, sess.nonce, sess.verifier, sess.loginStarted
		sess.state, sess.nonce, sess.verifier = "", "", ""
	})
	if state == "" {
		s.fail(w, &failure{http.StatusBadRequest, "Sign-in failed", "invalid_state",
			"This response does not belong to a sign-in started in this browser, or it was already used. Please sign in again."})
		return
	}
	if s.cfg.Now().Sub(started) > loginTTL {
		s.fail(w, &failure{http.StatusBadRequest, "Sign-in failed", "expired", "The sign-in took too long. Please sign in again."})
		return
	}
	code := q.Get("code")
	if code == "" {
		s.fail(w, &failure{http.StatusBadRequest, "Sign-in failed", "invalid_request", "The response carries no authorization code."})
		return
	}

	d, err := s.provider(r.Context())
	if err != nil {
		s.fail(w, unreachable(err))
		return
	}
	ctx := s.clientContext(r.Context())
	tok, err := d.oauth2.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		s.fail(w, tokenFailure("Code exchange failed", err))
		return
	}
	in, f := s.verifyTokens(ctx, d, tok, nonce, "")
	if f != nil {
		s.fail(w, f)
		return
	}
	s.newSession(w, r, func(sess *session) { in.apply(sess) })
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var ok bool
	var refreshToken, subject string
	s.withSession(r, func(sess *session) {
		if !validCSRF(sess, r) {
			return
		}
		ok = true
		if sess.token != nil {
			refreshToken, subject = sess.token.RefreshToken, sess.subject
		}
	})
	if !ok {
		s.fail(w, badCSRF())
		return
	}
	if refreshToken == "" {
		s.fail(w, &failure{http.StatusBadRequest, "Cannot refresh", "no_refresh_token",
			"No refresh token was received. Request the offline_access scope, and make sure the client may use refresh tokens."})
		return
	}
	d, err := s.provider(r.Context())
	if err != nil {
		s.fail(w, unreachable(err))
		return
	}
	ctx := s.clientContext(r.Context())
	// A token with no access token is never valid, so Token() always refreshes.
	tok, err := d.oauth2.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		s.fail(w, tokenFailure("Refresh failed", err))
		return
	}
	in, f := s.verifyTokens(ctx, d, tok, "", subject)
	if f != nil {
		s.fail(w, f)
		return
	}
	s.withSession(r, func(sess *session) {
		if sess == nil || sess.subject != subject {
			return // signed out or switched user meanwhile
		}
		in.apply(sess)
		sess.notice = "Tokens refreshed."
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleLogoutConfirm shows a button, so a cross-site GET cannot sign anyone out.
func (s *server) handleLogoutConfirm(w http.ResponseWriter, r *http.Request) {
	var data *logoutPage
	s.withSession(r, func(sess *session) {
		if sess != nil && sess.token != nil {
			data = &logoutPage{Name: sess.displayName, CSRF: sess.csrf}
		}
	})
	if data == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "logout.html", data)
}

// handleLogout forgets the tokens locally, then sends the browser to the
// provider's end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0).
// A signed-in session implies discovery succeeded, so no network call is made.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request) {
	var ok bool
	var idToken, endSession string
	logoutState := rand.Text()
	s.withSession(r, func(sess *session) {
		if !validCSRF(sess, r) {
			return
		}
		ok = true
		if sess.token == nil {
			return
		}
		idToken = sess.rawIDToken
		*sess = session{created: sess.created, csrf: sess.csrf}
		if d := s.currentDiscovery(); d != nil {
			endSession = d.endSession
		}
		if endSession == "" {
			sess.notice = "Signed out of the demo app. The identity provider advertises no end_session_endpoint."
			return
		}
		sess.logoutState = logoutState
	})
	if !ok {
		s.fail(w, badCSRF())
		return
	}
	if idToken == "" || endSession == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	u, err := url.Parse(endSession)
	if err != nil {
		s.fail(w, &failure{http.StatusBadGateway, "Sign-out failed", "bad_end_session_endpoint", "The provider's end_session_endpoint is not a valid URL."})
		return
	}
	v := u.Query()
	v.Set("id_token_hint", idToken)
	v.Set("post_logout_redirect_uri", s.baseURL)
	v.Set("client_id", s.cfg.ClientID)
	v.Set("state", logoutState)
	u.RawQuery = v.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// signIn is the verified outcome of a token response.
type signIn struct {
	token       *oauth2.Token
	rawIDToken  string // empty when a refresh returned no new ID token
	subject     string
	displayName string
	claims      map[string]any
	userInfo    []byte
	userInfoErr string
}

func (in *signIn) apply(sess *session) {
	sess.token = in.token
	sess.subject = in.subject
	if in.rawIDToken != "" {
		sess.rawIDToken, sess.claims, sess.displayName = in.rawIDToken, in.claims, in.displayName
	}
	sess.userInfo, sess.userInfoErr = in.userInfo, in.userInfoErr
}

// verifyTokens checks a token response. After a code exchange (wantSubject
// empty) an ID token is required and its nonce must match; after a refresh it
// is optional but must name the same subject (OpenID Connect Core §12.2).
// A userinfo failure is reported on the page, not as a failed sign-in.
func (s *server) verifyTokens(ctx context.Context, d *discovered, tok *oauth2.Token, nonce, wantSubject string) (*signIn, *failure) {
	in := &signIn{token: tok, subject: wantSubject}
	rawID, _ := tok.Extra("id_token").(string)
	switch {
	case rawID == "" && wantSubject == "":
		return nil, &failure{http.StatusBadGateway, "Sign-in failed", "missing_id_token", "The token response carries no ID token."}
	case rawID != "":
		idt, err := d.verifier.Verify(ctx, rawID)
		if err != nil {
			return nil, &failure{http.StatusBadGateway, "Sign-in failed", "invalid_id_token", "The ID token was rejected: " + err.Error()}
		}
		if nonce != "" && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
			return nil, &failure{http.StatusBadRequest, "Sign-in failed", "invalid_nonce", "The ID token's nonce does not match this sign-in."}
		}
		if wantSubject != "" && idt.Subject != wantSubject {
			return nil, &failure{http.StatusBadGateway, "Refresh failed", "subject_changed", "The refreshed ID token names a different subject."}
		}
		if idt.AccessTokenHash != "" {
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				return nil, &failure{http.StatusBadGateway, "Sign-in failed", "invalid_at_hash", "The access token does not match the ID token's at_hash."}
			}
		}
		if err := idt.Claims(&in.claims); err != nil {
			return nil, &failure{http.StatusBadGateway, "Sign-in failed", "invalid_id_token", "The ID token claims could not be decoded."}
		}
		in.rawIDToken, in.subject = rawID, idt.Subject
		in.displayName = idt.Subject
		if name, ok := in.claims["preferred_username"].(string); ok && name != "" {
			in.displayName = name
		}
	}

	ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		in.userInfoErr = err.Error()
		return in, nil
	}
	// The userinfo sub must equal the ID token's (OpenID Connect Core §5.3.2).
	if ui.Subject != in.subject {
		return nil, &failure{http.StatusBadGateway, "Sign-in failed", "userinfo_subject_mismatch", "The userinfo response names a different subject than the ID token."}
	}
	var raw any
	if err := ui.Claims(&raw); err != nil {
		in.userInfoErr = err.Error()
		return in, nil
	}
	// Profile claims come from userinfo when an access token was issued
	// (OpenID Connect Core §5.4), so prefer its preferred_username.
	if m, ok := raw.(map[string]any); ok {
		if name, ok := m["preferred_username"].(string); ok && name != "" {
			in.displayName = name
		}
	}
	in.userInfo, _ = json.MarshalIndent(raw, "", "  ")
	return in, nil
}

func claimRows(claims map[string]any) []claimRow {
	rows := make([]claimRow, 0, len(claims))
	for name, v := range claims {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			b = []byte(fmt.Sprint(v))
		}
		row := claimRow{Name: name, Value: string(b)}
		switch name {
		case "exp", "iat", "nbf", "auth_time", "updated_at":
			if f, ok := v.(float64); ok {
				row.Time = time.Unix(int64(f), 0).UTC().Format(time.RFC3339)
			}
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func unreachable(err error) *failure {
	return &failure{http.StatusBadGateway, "Identity provider unavailable", "discovery_failed",
		"The demo app could not load the provider's discovery document: " + err.Error()}
}

func badCSRF() *failure {
	return &failure{http.StatusForbidden, "Request refused", "invalid_csrf_token",
		"The form token is missing or stale. Go back to the start page and try again."}
}

// tokenFailure describes a token endpoint error, showing the OAuth error code
// and description when the provider sent one (RFC 6749 §5.2).
func tokenFailure(title string, err error) *failure {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		return &failure{http.StatusBadGateway, title, re.ErrorCode, re.ErrorDescription}
	}
	return &failure{http.StatusBadGateway, title, "token_request_failed", err.Error()}
}
