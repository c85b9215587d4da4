package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// rp is the relying party: the client's OAuth configuration and go-oidc's
// ID token verifier, both from the issuer's discovery document.
type rp struct {
	app      *app
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	// extras: after the ID token, /userinfo and one refresh, the steps
	// `latchkey-bench flow` adds to a sign-in (--userinfo-refresh).
	extras bool
}

func newRP(ctx context.Context, a *app, extras bool) (*rp, error) {
	ctx = oidc.ClientContext(ctx, &http.Client{Transport: a.transport})
	// OIDC Discovery §4.3: the document's issuer must equal the URL it
	// was fetched from; go-oidc refuses it otherwise.
	p, err := oidc.NewProvider(ctx, a.issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic, no probing
	scopes := []string{oidc.ScopeOpenID, "profile", "email"}
	if extras {
		scopes = append(scopes, oidc.ScopeOfflineAccess)
	}
	return &rp{app: a, provider: p, extras: extras,
		oauth: oauth2.Config{ClientID: a.clientID, ClientSecret: a.clientSecret, Endpoint: ep, RedirectURL: a.redirectURI, Scopes: scopes},
		// The algorithms are the discovery document's
		// id_token_signing_alg_values_supported (RS256 and ES256).
		verifier: p.Verifier(&oidc.Config{ClientID: a.clientID}),
	}, nil
}

var (
	loginFormRE = regexp.MustCompile(`<form id="login-form"[^>]*>`)
	attrRE      = regexp.MustCompile(`data-([a-z-]+)="([^"]*)"`)
	consentRE   = regexp.MustCompile(`<form method="post" action="(/consent)"`)
	hiddenRE    = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// flow runs one complete sign-in of u in a fresh browser. Every step's
// status is checked; the ID token is verified with go-oidc.
func (r *rp) flow(ctx context.Context, u *user) error {
	hc := r.app.browser()
	state, nonce, verifier := randomHex(16), randomHex(16), oauth2.GenerateVerifier()
	// RFC 7636 §4.2: S256 challenge; OIDC Core §3.1.2.1: nonce.
	authURL := r.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	loc, err := redirect(ctx, hc, "authorize", authURL)
	if err != nil {
		return err
	}
	// The sign-in page carries the auth request's own passkey challenge
	// (templates/login.html, static/login.js).
	page, err := get(ctx, hc, "sign-in page", r.app.absolute(loc), http.StatusOK)
	if err != nil {
		return err
	}
	csrf, form := csrfMetaRE.FindSubmatch(page), loginFormRE.Find(page)
	if csrf == nil || form == nil {
		return &stepError{step: "sign-in page", msg: "no CSRF token or sign-in form"}
	}
	data := map[string]string{}
	for _, m := range attrRE.FindAllSubmatch(form, -1) {
		data[string(m[1])] = html.UnescapeString(string(m[2]))
	}
	if data["auth-request"] == "" || data["first-begin"] == "" || data["finish"] == "" {
		return &stepError{step: "sign-in page", msg: "sign-in form without auth request, challenge or finish URL"}
	}
	var begin ceremony
	if err := json.Unmarshal([]byte(data["first-begin"]), &begin); err != nil {
		return &stepError{step: "sign-in page", msg: "passkey challenge is not JSON"}
	}
	assertion, err := u.auth.Get(begin.Options)
	if err != nil {
		return &stepError{step: "authenticator", msg: err.Error()}
	}
	raw, err := postJSON(ctx, hc, "passkey finish", r.app.absolute(data["finish"]), string(csrf[1]),
		map[string]any{"authRequestID": data["auth-request"], "ceremonyID": begin.CeremonyID, "credential": json.RawMessage(assertion)})
	if err != nil {
		return err
	}
	var fin struct {
		Redirect string `json:"redirect"`
	}
	if err := json.Unmarshal(raw, &fin); err != nil || fin.Redirect == "" {
		return &stepError{step: "passkey finish", msg: "no redirect in the answer"}
	}
	code, err := r.toClient(ctx, hc, fin.Redirect, state)
	if err != nil {
		return err
	}
	// The code exchange with the PKCE verifier (RFC 7636 §4.5).
	tok, err := r.oauth.Exchange(oidc.ClientContext(ctx, hc), code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return &stepError{step: "token", code: re.Response.StatusCode, msg: shorten(string(re.Body))}
	} else if err != nil {
		return &stepError{step: "token", msg: shorten(err.Error())}
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return &stepError{step: "token", msg: "no id_token"}
	}
	idt, err := r.verifier.Verify(ctx, rawID)
	if err != nil {
		return &stepError{step: "id token", msg: shorten(err.Error())}
	}
	// OIDC Core §3.1.3.7 rule 11: the nonce sent must come back.
	if idt.Nonce != nonce {
		return &stepError{step: "id token", msg: "nonce differs"}
	}
	// §3.1.3.8: at_hash is optional in the code flow; checked when present.
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return &stepError{step: "id token", msg: "at_hash differs"}
		}
	}
	var claims struct {
		Username string `json:"preferred_username"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Username != u.name {
		return &stepError{step: "id token", msg: "preferred_username is not the user who signed in"}
	}
	if r.extras {
		return r.userinfoAndRefresh(ctx, hc, tok, idt.Subject)
	}
	return nil
}

// userinfoAndRefresh calls /userinfo with the access token (its sub must
// be the ID token's, OIDC Core §5.3.2) and redeems the refresh token once
// (RFC 6749 §6); the answer must carry a new, rotated refresh token.
func (r *rp) userinfoAndRefresh(ctx context.Context, hc *http.Client, tok *oauth2.Token, sub string) error {
	ctx = oidc.ClientContext(ctx, hc)
	info, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return &stepError{step: "userinfo", msg: shorten(err.Error())}
	}
	if info.Subject != sub {
		return &stepError{step: "userinfo", msg: "sub differs from the ID token's"}
	}
	if tok.RefreshToken == "" {
		return &stepError{step: "token", msg: "no refresh_token (offline_access asked)"}
	}
	// An expired token makes the token source refresh at once.
	next, err := r.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return &stepError{step: "refresh", code: re.Response.StatusCode, msg: shorten(string(re.Body))}
	} else if err != nil {
		return &stepError{step: "refresh", msg: shorten(err.Error())}
	}
	if next.AccessToken == "" || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		return &stepError{step: "refresh", msg: "no new access token or rotated refresh token"}
	}
	return nil
}

// toClient follows the redirects after the sign-in (op's
// /authorize/callback, and the consent page the first time a user signs
// in to the client) until the client's redirect URI, and returns the code.
func (r *rp) toClient(ctx context.Context, hc *http.Client, loc, state string) (string, error) {
	for i := 0; i < 6; i++ {
		if strings.HasPrefix(loc, r.app.redirectURI) {
			u, err := url.Parse(loc)
			if err != nil {
				return "", &stepError{step: "callback", msg: "bad redirect"}
			}
			q := u.Query()
			// RFC 6749 §10.12: the state must be the one sent.
			if q.Get("state") != state {
				return "", &stepError{step: "callback", msg: "state differs"}
			}
			if q.Get("code") == "" {
				return "", &stepError{step: "callback", msg: "no code: " + q.Get("error")}
			}
			return q.Get("code"), nil
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.app.absolute(loc), nil)
		if err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", &stepError{step: "callback", msg: "request failed"}
		}
		body, err := readClose(resp)
		if err != nil {
			return "", &stepError{step: "callback", msg: "reading the answer failed"}
		}
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc = resp.Header.Get("Location")
		case resp.StatusCode == http.StatusOK && consentRE.Match(body):
			if loc, err = r.consent(ctx, hc, body); err != nil {
				return "", err
			}
		default:
			return "", &stepError{step: "callback", code: resp.StatusCode, msg: shorten(string(body))}
		}
	}
	return "", &stepError{step: "callback", msg: "too many redirects"}
}

// consent allows what the client asks for on the consent page
// (templates/consent.html), as pressing "Allow" does.
func (r *rp) consent(ctx context.Context, hc *http.Client, page []byte) (string, error) {
	form := url.Values{"decision": {"allow"}}
	for _, m := range hiddenRE.FindAllSubmatch(page, -1) {
		form.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.app.issuer+"/consent", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	header, _, err := send(hc, "consent", req, http.StatusSeeOther)
	if err != nil {
		return "", err
	}
	return header.Get("Location"), nil
}

// redirect GETs u, which must answer 302, and returns the Location.
func redirect(ctx context.Context, hc *http.Client, step, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	header, _, err := send(hc, step, req, http.StatusFound)
	if err != nil {
		return "", err
	}
	return header.Get("Location"), nil
}

func get(ctx context.Context, hc *http.Client, step, u string, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	_, body, err := send(hc, step, req, want)
	return body, err
}

func readClose(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	_ = resp.Body.Close() // the read's error is the one that counts
	return b, err
}

func shorten(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
