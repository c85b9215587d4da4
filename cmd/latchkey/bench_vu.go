package main

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

// The steps of one complete flow, in order, as the bench reports them.
// /authorize sends the browser to the sign-in page (login_page), which
// carries its passkey challenge (passkeys/bound.go); the sign-in's answer
// leads to op's /authorize/callback, which issues the code and redirects
// to the client (callback).
var flowSteps = []string{"authorize", "login_page", "passkey_finish", "callback", "code_exchange", "userinfo", "refresh"}

// benchClient is what every virtual user shares: the server, the
// registered OIDC client and one connection pool.
type benchClient struct {
	issuer       string
	clientID     string
	clientSecret string
	redirectURI  string
	transport    *http.Transport
}

// vu is one virtual user: a software passkey and a browser.
type vu struct {
	bc    *benchClient
	auth  *passkeytest.Authenticator
	http  *http.Client
	steps func(step string, d time.Duration, err error) // records one step

	// the latest tokens, for the endpoint mode
	accessToken  string
	refreshToken string
}

func newVU(bc *benchClient, rec func(string, time.Duration, error)) *vu {
	v := &vu{bc: bc, auth: passkeytest.New(hostOf(bc.issuer), bc.issuer), steps: rec}
	v.newBrowser()
	return v
}

func hostOf(issuer string) string {
	u, _ := url.Parse(issuer)
	return u.Hostname()
}

// newBrowser forgets cookies (a fresh browser: the next sign-in needs a
// ceremony) but keeps the shared connection pool.
func (v *vu) newBrowser() {
	jar, _ := cookiejar.New(nil)
	v.http = &http.Client{Jar: jar, Transport: v.bc.transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// errStatus is an unexpected HTTP status; the bench counts errors by it.
type errStatus struct {
	step string
	code int
	body string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.step, e.code, strings.TrimSpace(e.body))
}

// do runs one timed step: it sends req, reads the whole body and checks
// the status.
func (v *vu) do(step string, req *http.Request, want int) (*http.Response, []byte, error) {
	start := time.Now()
	resp, body, err := v.send(step, req, want)
	if v.steps != nil {
		v.steps(step, time.Since(start), err)
	}
	return resp, body, err
}

// send is do without recording.
func (v *vu) send(step string, req *http.Request, want int) (*http.Response, []byte, error) {
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != want {
		b := body
		if len(b) > 200 {
			b = b[:200]
		}
		err = &errStatus{step: step, code: resp.StatusCode, body: string(b)}
	}
	return resp, body, err
}

func (v *vu) get(step, u string, want int) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	return v.do(step, req, want)
}

func (v *vu) postJSON(step, u, csrf string, in any) ([]byte, error) {
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	_, body, err := v.do(step, req, http.StatusOK)
	return body, err
}

// postForm posts to an OAuth endpoint with the client's credentials.
func (v *vu) postForm(step, path string, form url.Values) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodPost, v.bc.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(v.bc.clientID), url.QueryEscape(v.bc.clientSecret))
	_, body, err := v.do(step, req, http.StatusOK)
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

// register opens a one-time setup link and creates the passkey.
func (v *vu) register(setupURL string) error {
	_, page, err := v.get("setup_page", setupURL, http.StatusOK)
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

// flow runs one complete sign-in in a fresh browser: authorize →
// discoverable passkey sign-in → callback → code exchange → userinfo →
// refresh. Every step is timed and checked.
func (v *vu) flow() error {
	v.newBrowser()
	verifier := models.NewToken()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {v.bc.clientID}, "redirect_uri": {v.bc.redirectURI}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {models.NewToken()[:16]}, "nonce": {models.NewToken()[:16]},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	// /authorize sends the browser to the sign-in page.
	authorizeURL := v.bc.issuer + "/authorize?" + q.Encode()
	resp, _, err := v.get("authorize", authorizeURL, http.StatusFound)
	if err != nil {
		return err
	}
	loginURL := resp.Header.Get("Location")
	if strings.HasPrefix(loginURL, "/") {
		loginURL = v.bc.issuer + loginURL
	}
	_, page, err := v.get("login_page", loginURL, http.StatusOK)
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
	raw, err := v.postJSON("passkey_finish", v.bc.issuer+"/login/passkey/finish", csrf,
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
		"redirect_uri": {v.bc.redirectURI}, "code_verifier": {verifier}})
	if err != nil {
		return err
	}
	var tok tokenResponse
	if err := json.Unmarshal(raw, &tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" {
		return fmt.Errorf("code exchange: incomplete token response (%v)", err)
	}
	v.accessToken, v.refreshToken = tok.AccessToken, tok.RefreshToken
	if err := v.userinfo(); err != nil {
		return err
	}
	return v.refresh()
}

// callback follows the op callback redirects to the client's redirect URI
// and returns the code; the redirects count as one step.
func (v *vu) callback(u string) (string, error) {
	start := time.Now()
	code, err := v.followToClient(u)
	if v.steps != nil {
		v.steps("callback", time.Since(start), err)
	}
	return code, err
}

func (v *vu) followToClient(u string) (string, error) {
	for i := 0; i < 5; i++ {
		if strings.HasPrefix(u, v.bc.redirectURI) {
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
		resp, _, err := v.send("callback", req, http.StatusFound)
		if err != nil {
			return "", err
		}
		if u = resp.Header.Get("Location"); strings.HasPrefix(u, "/") {
			u = v.bc.issuer + u
		}
	}
	return "", errors.New("callback: too many redirects")
}

func (v *vu) userinfo() error {
	req, _ := http.NewRequest(http.MethodGet, v.bc.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+v.accessToken)
	_, _, err := v.do("userinfo", req, http.StatusOK)
	return err
}

// refresh redeems and keeps the rotated refresh token.
func (v *vu) refresh() error {
	raw, err := v.postForm("refresh", "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {v.refreshToken}})
	if err != nil {
		return err
	}
	var tok tokenResponse
	if err := json.Unmarshal(raw, &tok); err != nil || tok.RefreshToken == "" {
		return fmt.Errorf("refresh: no refresh token in response (%v)", err)
	}
	v.accessToken, v.refreshToken = tok.AccessToken, tok.RefreshToken
	return nil
}

func (v *vu) introspect() error {
	_, err := v.postForm("introspect", "/oauth/introspect", url.Values{"token": {v.accessToken}})
	return err
}
