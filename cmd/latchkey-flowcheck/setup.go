package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

// app is the client the tool registers and the connection pool every
// browser shares.
type app struct {
	issuer, clientID, clientSecret, redirectURI string
	transport                                   *http.Transport
}

// user is one person: a username and the software passkey registered for
// it.
type user struct {
	name string
	auth *passkeytest.Authenticator
}

// browser is a fresh browser: its own cookie jar, the shared pool, no
// redirect followed by itself (each one is a checked step).
func (a *app) browser() *http.Client {
	jar, _ := cookiejar.New(nil) // never fails with nil options
	return &http.Client{Jar: jar, Transport: a.transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// stepError is a step that did not answer as a browser expects.
type stepError struct {
	step string
	code int    // the HTTP status, 0 when the failure is not one
	msg  string // the first bytes of the body, or what was wrong
}

func (e *stepError) Error() string {
	if e.code != 0 {
		return fmt.Sprintf("%s: HTTP %d: %s", e.step, e.code, e.msg)
	}
	return e.step + ": " + e.msg
}

// kind is the error's class in the report: step and status, without
// the details that differ per flow.
func (e *stepError) kind() string {
	if e.code != 0 {
		return fmt.Sprintf("%s: HTTP %d", e.step, e.code)
	}
	msg := e.msg
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return e.step + ": " + msg
}

// send does req, reads and closes the body and checks the status; it
// returns the answer's header and body.
func send(hc *http.Client, step string, req *http.Request, want int) (http.Header, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, &stepError{step: step, msg: "request failed"}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	_ = resp.Body.Close() // read fully or failed: the read's error is the one that counts
	if err != nil {
		return nil, nil, &stepError{step: step, msg: "reading the answer failed"}
	}
	if resp.StatusCode != want {
		b := strings.TrimSpace(string(body))
		if len(b) > 200 {
			b = b[:200]
		}
		return nil, nil, &stepError{step: step, code: resp.StatusCode, msg: b}
	}
	return resp.Header, body, nil
}

// adminAPI calls the admin API on the internal listener with the token.
func adminAPI(ctx context.Context, o *options, method, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, o.Internal+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+o.APIToken)
	req.Header.Set("Content-Type", "application/json")
	_, body, err := send(http.DefaultClient, method+" "+path, req, http.StatusCreated)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, out)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b)
}

// setup registers a client and o.Users users through the admin API and a
// passkey for each through its setup link.
func setup(ctx context.Context, o *options) (*app, []*user, error) {
	run := randomHex(4)
	a := &app{issuer: o.Issuer, redirectURI: "http://127.0.0.1:9/flowcheck-callback",
		transport: &http.Transport{MaxIdleConns: 4 * o.C, MaxIdleConnsPerHost: 4 * o.C, IdleConnTimeout: time.Minute}}
	var cl struct {
		ID     string `json:"id"`
		Secret string `json:"client_secret"`
	}
	if err := adminAPI(ctx, o, http.MethodPost, "/api/v1/clients", map[string]any{
		"name": "latchkey-flowcheck " + run, "redirect_uris": []string{a.redirectURI}, "id_token_alg": o.IDTokenAlg,
	}, &cl); err != nil {
		return nil, nil, fmt.Errorf("create the client: %w", err)
	}
	a.clientID, a.clientSecret = cl.ID, cl.Secret
	users := make([]*user, o.Users)
	links := make([]string, o.Users)
	host := hostOf(o.Issuer)
	for i := range users {
		name := fmt.Sprintf("flowcheck-%s-%d", run, i)
		var created struct {
			SetupURL string `json:"setup_url"`
		}
		if err := adminAPI(ctx, o, http.MethodPost, "/api/v1/users", map[string]any{
			"username": name, "email": name + "@example.com", "email_verified": true, "display_name": "Flowcheck",
		}, &created); err != nil {
			return nil, nil, fmt.Errorf("create user %s: %w", name, err)
		}
		if created.SetupURL == "" {
			return nil, nil, fmt.Errorf("create user %s: no setup_url in the answer", name)
		}
		users[i], links[i] = &user{name: name, auth: passkeytest.New(host, o.Issuer)}, created.SetupURL
	}
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	sem := make(chan struct{}, min(o.C, 8))
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = a.register(ctx, users[i], links[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("register the passkey of %s (is the server running with --no-rate-limits?): %w", users[i].name, err)
		}
	}
	return a, users, nil
}

func hostOf(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

var (
	csrfMetaRE  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
	setupFormRE = regexp.MustCompile(`<form id="setup-form"[^>]*data-begin="([^"]+)"[^>]*data-finish="([^"]+)"`)
)

// ceremony is the answer of a begin endpoint (web.CeremonyBegin).
type ceremony struct {
	CeremonyID string          `json:"ceremonyID"`
	Options    json.RawMessage `json:"options"`
}

// postJSON posts body as static/webauthn.js's postJSON does: JSON, with
// the page's CSRF token in X-CSRF-Token; the answer must be 200.
func postJSON(ctx context.Context, hc *http.Client, step, u, csrf string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	_, out, err := send(hc, step, req, http.StatusOK)
	return out, err
}

// absolute resolves a page's relative link against the issuer.
func (a *app) absolute(ref string) string {
	if strings.HasPrefix(ref, "/") {
		return a.issuer + ref
	}
	return ref
}

// register opens the setup link and creates the passkey, as setup.js does.
func (a *app) register(ctx context.Context, u *user, link string) error {
	hc := a.browser()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	_, page, err := send(hc, "setup page", req, http.StatusOK)
	if err != nil {
		return err
	}
	m, f := csrfMetaRE.FindSubmatch(page), setupFormRE.FindSubmatch(page)
	if m == nil || f == nil {
		return &stepError{step: "setup page", msg: "no CSRF token or setup form"}
	}
	csrf := string(m[1])
	raw, err := postJSON(ctx, hc, "setup begin", a.absolute(html.UnescapeString(string(f[1]))), csrf, map[string]any{})
	if err != nil {
		return err
	}
	var begin ceremony
	if err := json.Unmarshal(raw, &begin); err != nil {
		return &stepError{step: "setup begin", msg: "answer is not a ceremony"}
	}
	cred, err := u.auth.Create(begin.Options)
	if err != nil {
		return err
	}
	_, err = postJSON(ctx, hc, "setup finish", a.absolute(html.UnescapeString(string(f[2]))), csrf,
		map[string]any{"ceremonyID": begin.CeremonyID, "name": "flowcheck", "credential": json.RawMessage(cred)})
	return err
}
