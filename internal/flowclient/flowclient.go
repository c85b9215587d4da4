// Package flowclient is a scripted browser holding a software passkey
// (passkeys/passkeytest) that drives a running Latchkey over HTTP only, as
// a person would: it opens a one-time setup link and registers the passkey,
// then signs in to an OIDC client (authorize → sign-in page → passkey →
// callback → code exchange → userinfo → refresh). The load tool
// (cmd/latchkey-bench) runs many of them; tests use one to prove a user can
// sign in. The server binary links none of it
// (TestServerBinaryCarriesNoTestCode).
//
// It imports models (random tokens for state, nonce and PKCE) and
// passkeytest.
package flowclient

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

// FlowSteps are the steps of one complete flow, in order, as User.Steps
// records them. /authorize sends the browser to the sign-in page
// (login_page), which carries its passkey challenge (passkeys/bound.go);
// the sign-in's answer leads to op's /authorize/callback, which issues the
// code and redirects to the client (callback).
var FlowSteps = []string{"authorize", "login_page", "passkey_finish", "callback", "code_exchange", "userinfo", "refresh"}

// App is what every User shares: the server, the registered OIDC client
// and one connection pool.
type App struct {
	Issuer       string // the server's issuer URL, without a trailing slash
	ClientID     string
	ClientSecret string
	RedirectURI  string // registered for the client; never contacted
	Transport    *http.Transport
}

// User is one person: a software passkey and a browser (a cookie jar that
// follows no redirect by itself).
type User struct {
	App   *App
	Steps func(step string, d time.Duration, err error) // records each step when set

	// The latest tokens of Flow and Refresh.
	AccessToken  string
	RefreshToken string
	// Claims is the latest /userinfo answer.
	Claims json.RawMessage

	auth *passkeytest.Authenticator
	http *http.Client
}

// NewUser returns a user of app with a new authenticator for the issuer's
// host and a fresh browser; rec, when not nil, records each step.
func NewUser(app *App, rec func(string, time.Duration, error)) *User {
	v := &User{App: app, auth: passkeytest.New(hostOf(app.Issuer), app.Issuer), Steps: rec}
	v.NewBrowser()
	return v
}

func hostOf(issuer string) string {
	u, _ := url.Parse(issuer)
	return u.Hostname()
}

// NewBrowser forgets cookies (a fresh browser: the next sign-in needs a
// ceremony) but keeps the shared connection pool.
func (v *User) NewBrowser() {
	jar, _ := cookiejar.New(nil)
	v.http = &http.Client{Jar: jar, Transport: v.App.Transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// StatusError is an unexpected HTTP status (the bench counts errors by it).
type StatusError struct {
	Step string
	Code int
	Body string // the first 200 bytes
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Step, e.Code, strings.TrimSpace(e.Body))
}

// do runs one timed step: it sends req, reads the whole body and checks
// the status.
func (v *User) do(step string, req *http.Request, want int) ([]byte, error) {
	start := time.Now()
	_, body, err := v.send(step, req, want)
	if v.Steps != nil {
		v.Steps(step, time.Since(start), err)
	}
	return body, err
}

// send is do without recording; it returns the response's header.
func (v *User) send(step string, req *http.Request, want int) (http.Header, []byte, error) {
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err == nil && resp.StatusCode != want {
		b := body
		if len(b) > 200 {
			b = b[:200]
		}
		err = &StatusError{Step: step, Code: resp.StatusCode, Body: string(b)}
	}
	return resp.Header, body, err
}

// Get runs one step: a GET of u that must answer want; it returns the body.
func (v *User) Get(step, u string, want int) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return v.do(step, req, want)
}

// redirect runs one timed GET step that must answer 302 and returns the
// response's header.
func (v *User) redirect(step, u string) (http.Header, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	header, _, err := v.send(step, req, http.StatusFound)
	if v.Steps != nil {
		v.Steps(step, time.Since(start), err)
	}
	return header, err
}

func (v *User) postJSON(step, u, csrf string, in any) ([]byte, error) {
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	body, err := v.do(step, req, http.StatusOK)
	return body, err
}

// postForm posts to an OAuth endpoint with the client's credentials.
func (v *User) postForm(step, path string, form url.Values) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodPost, v.App.Issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(v.App.ClientID), url.QueryEscape(v.App.ClientSecret))
	body, err := v.do(step, req, http.StatusOK)
	return body, err
}

var (
	csrfMetaRE    = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
	firstBeginRE  = regexp.MustCompile(`data-first-begin="([^"]+)"`)
	authRequestRE = regexp.MustCompile(`data-auth-request="([^"]+)"`)
)

type ceremonyBegin struct {
	CeremonyID string          `json:"ceremonyID"`
	Options    json.RawMessage `json:"options"`
}

// Register opens a one-time setup link and creates the passkey.
func (v *User) Register(setupURL string) error {
	page, err := v.Get("setup_page", setupURL, http.StatusOK)
	if err != nil {
		return err
	}
	m := csrfMetaRE.FindSubmatch(page)
	if m == nil {
		return errors.New("setup page without CSRF token")
	}
	csrf := string(m[1])
	raw, err := v.postJSON("setup_begin", setupURL+"/begin", csrf, map[string]any{})
	if err != nil {
		return err
	}
	var begin ceremonyBegin
	if err := json.Unmarshal(raw, &begin); err != nil {
		return err
	}
	cred, err := v.auth.Create(begin.Options)
	if err != nil {
		return err
	}
	_, err = v.postJSON("setup_finish", setupURL+"/finish", csrf,
		map[string]any{"ceremonyID": begin.CeremonyID, "name": "bench", "credential": json.RawMessage(cred)})
	return err
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// Flow runs one complete sign-in in a fresh browser: authorize →
// discoverable passkey sign-in → callback → code exchange → userinfo →
// refresh. Every step is timed and checked.
func (v *User) Flow() error {
	v.NewBrowser()
	verifier := models.NewToken()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {v.App.ClientID}, "redirect_uri": {v.App.RedirectURI}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {models.NewToken()[:16]}, "nonce": {models.NewToken()[:16]},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	// /authorize sends the browser to the sign-in page.
	authorizeURL := v.App.Issuer + "/authorize?" + q.Encode()
	header, err := v.redirect("authorize", authorizeURL)
	if err != nil {
		return err
	}
	loginURL := header.Get("Location")
	if strings.HasPrefix(loginURL, "/") {
		loginURL = v.App.Issuer + loginURL
	}
	page, err := v.Get("login_page", loginURL, http.StatusOK)
	if err != nil {
		return err
	}
	m := csrfMetaRE.FindSubmatch(page)
	fb := firstBeginRE.FindSubmatch(page)
	ar := authRequestRE.FindSubmatch(page)
	if m == nil || fb == nil || ar == nil {
		return fmt.Errorf("sign-in page of %s without CSRF token, passkey challenge or auth request", authorizeURL)
	}
	arID := html.UnescapeString(string(ar[1]))
	csrf := string(m[1])
	// The page's first ceremony, as its script uses it.
	var begin ceremonyBegin
	if err := json.Unmarshal([]byte(html.UnescapeString(string(fb[1]))), &begin); err != nil {
		return fmt.Errorf("login page's passkey challenge: %w", err)
	}
	assertion, err := v.auth.Get(begin.Options)
	if err != nil {
		return err
	}
	raw, err := v.postJSON("passkey_finish", v.App.Issuer+"/login/passkey/finish", csrf,
		map[string]any{"authRequestID": arID, "ceremonyID": begin.CeremonyID, "credential": json.RawMessage(assertion)})
	if err != nil {
		return err
	}
	var fin struct{ Redirect string }
	if err := json.Unmarshal(raw, &fin); err != nil {
		return err
	}
	code, err := v.callback(fin.Redirect)
	if err != nil {
		return err
	}
	raw, err = v.postForm("code_exchange", "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {v.App.RedirectURI}, "code_verifier": {verifier}})
	if err != nil {
		return err
	}
	var tok tokenResponse
	if err := json.Unmarshal(raw, &tok); err != nil {
		return fmt.Errorf("code exchange: %w", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" {
		return errors.New("code exchange: incomplete token response")
	}
	v.AccessToken, v.RefreshToken = tok.AccessToken, tok.RefreshToken
	if err := v.Userinfo(); err != nil {
		return err
	}
	return v.Refresh()
}

// callback follows the op callback redirects to the client's redirect URI
// and returns the code; the redirects count as one step.
func (v *User) callback(u string) (string, error) {
	start := time.Now()
	code, err := v.followToClient(u)
	if v.Steps != nil {
		v.Steps("callback", time.Since(start), err)
	}
	return code, err
}

func (v *User) followToClient(u string) (string, error) {
	for i := 0; i < 5; i++ {
		if strings.HasPrefix(u, v.App.RedirectURI) {
			nu, err := url.Parse(u)
			if err != nil || nu.Query().Get("code") == "" {
				return "", fmt.Errorf("callback: no code in %s", u)
			}
			return nu.Query().Get("code"), nil
		}
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		header, _, err := v.send("callback", req, http.StatusFound)
		if err != nil {
			return "", err
		}
		if u = header.Get("Location"); strings.HasPrefix(u, "/") {
			u = v.App.Issuer + u
		}
	}
	return "", errors.New("callback: too many redirects")
}

// Userinfo calls /userinfo with the access token and keeps the answer
// in Claims (the raw JSON object).
func (v *User) Userinfo() error {
	req, _ := http.NewRequest(http.MethodGet, v.App.Issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+v.AccessToken)
	body, err := v.do("userinfo", req, http.StatusOK)
	v.Claims = body
	return err
}

// Refresh redeems and keeps the rotated refresh token.
func (v *User) Refresh() error {
	raw, err := v.postForm("refresh", "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {v.RefreshToken}})
	if err != nil {
		return err
	}
	var tok tokenResponse
	if err := json.Unmarshal(raw, &tok); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	if tok.RefreshToken == "" {
		return errors.New("refresh: no refresh token in response")
	}
	v.AccessToken, v.RefreshToken = tok.AccessToken, tok.RefreshToken
	return nil
}

// Introspect introspects the access token as the client.
func (v *User) Introspect() error {
	_, err := v.postForm("introspect", "/oauth/introspect", url.Values{"token": {v.AccessToken}})
	return err
}
