package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

//go:embed templates/*.html static/*
var assets embed.FS

const (
	discoveryTimeout = 10 * time.Second
	loginTTL         = 10 * time.Minute
	sessionTTL       = 12 * time.Hour
)

// config is everything newServer needs; only main reads flags and env.
type config struct {
	Issuer       string
	ClientID     string
	ClientSecret string // empty: public client, PKCE only
	Listen       string
	RedirectURL  string
	Scopes       []string

	// HTTPClient talks to the provider; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

func (c config) validate() error {
	var problems []string
	if c.ClientID == "" {
		problems = append(problems, "--client-id (DEMO_CLIENT_ID) is required")
	}
	if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		problems = append(problems, fmt.Sprintf("--issuer %q must be an absolute http(s) URL", c.Issuer))
	}
	u, err := url.Parse(c.RedirectURL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		problems = append(problems, fmt.Sprintf("--redirect-url %q must be an absolute http(s) URL", c.RedirectURL))
	case slices.Contains([]string{"", "/", "/login", "/logout", "/refresh"}, u.Path) || strings.HasPrefix(u.Path, "/static/"):
		problems = append(problems, fmt.Sprintf("--redirect-url path %q collides with a page of this app", u.Path))
	}
	if !slices.Contains(c.Scopes, "openid") {
		problems = append(problems, "--scopes must include openid")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// server is the demo relying party. It is an http.Handler; provider discovery
// happens lazily, so pages that do not talk to the provider work without it.
type server struct {
	cfg          config
	log          *slog.Logger
	client       *http.Client
	mux          *http.ServeMux
	pages        map[string]*template.Template
	baseURL      string // origin of the redirect URL + "/": post-logout redirect URI
	callbackPath string
	secureCookie bool

	discMu sync.Mutex
	disc   *discovered // nil until discovery succeeds

	sessMu   sync.Mutex
	sessions map[string]*session
}

// discovered is what provider discovery yields; immutable once built.
type discovered struct {
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	oauth2     *oauth2.Config
	endSession string // end_session_endpoint, empty if not advertised
	issParam   bool   // authorization_response_iss_parameter_supported (RFC 9207)
}

// session is one browser's state, keyed by a random cookie value.
type session struct {
	created time.Time
	csrf    string

	// Pending authorization request (single use, cleared by the callback).
	state, nonce, verifier string
	loginStarted           time.Time

	// Signed-in state.
	token       *oauth2.Token
	rawIDToken  string
	subject     string
	displayName string
	claims      map[string]any
	userInfo    []byte
	userInfoErr string

	// state sent with RP-initiated logout, matched when the provider returns.
	logoutState string
	notice      string
}

func newServer(cfg config) (*server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: discoveryTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	redirect, _ := url.Parse(cfg.RedirectURL) // validated above
	s := &server{
		cfg:          cfg,
		log:          cfg.Logger,
		client:       cfg.HTTPClient,
		mux:          http.NewServeMux(),
		pages:        map[string]*template.Template{},
		baseURL:      (&url.URL{Scheme: redirect.Scheme, Host: redirect.Host, Path: "/"}).String(),
		callbackPath: redirect.Path,
		secureCookie: redirect.Scheme == "https",
		sessions:     map[string]*session{},
	}
	for _, name := range []string{"index.html", "error.html", "logout.html"} {
		t, err := template.New("layout.html").ParseFS(assets, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	s.routes(http.FileServerFS(static))
	return s, nil
}

func (s *server) routes(static http.Handler) {
	s.mux.HandleFunc("GET /{$}", s.handleIndex)
	s.mux.HandleFunc("GET /login", s.handleLogin)
	s.mux.HandleFunc("GET "+s.callbackPath, s.handleCallback)
	s.mux.HandleFunc("POST /refresh", s.handleRefresh)
	s.mux.HandleFunc("GET /logout", s.handleLogoutConfirm)
	s.mux.HandleFunc("POST /logout", s.handleLogout)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, static)))
}

// redirectPort is the port of the redirect URL, explicit or implied by its scheme.
func (s *server) redirectPort() string {
	u, _ := url.Parse(s.cfg.RedirectURL) // validated in newServer
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// ServeHTTP sets the security headers shared by every response and routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No form-action: the sign-out form redirects to the provider's origin, and
	// Chromium applies form-action to redirects after a form submission.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		next.ServeHTTP(w, r)
	})
}

// provider returns the discovery result, running discovery if it has not
// succeeded yet. A failure is not cached, so a later request retries.
func (s *server) provider(ctx context.Context) (*discovered, error) {
	s.discMu.Lock()
	defer s.discMu.Unlock()
	if s.disc != nil {
		return s.disc, nil
	}
	// The provider keeps the client from this context for JWKS and userinfo
	// (not the request's deadline).
	p, err := oidc.NewProvider(s.clientContext(ctx), s.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", s.cfg.Issuer, err)
	}
	var meta struct {
		EndSessionEndpoint string   `json:"end_session_endpoint"`
		TokenAuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
		IssParam           bool     `json:"authorization_response_iss_parameter_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("decode discovery document: %w", err)
	}
	endpoint := p.Endpoint()
	endpoint.AuthStyle = s.authStyle(meta.TokenAuthMethods)
	s.disc = &discovered{
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: s.cfg.ClientID, Now: s.cfg.Now}),
		oauth2: &oauth2.Config{
			ClientID:     s.cfg.ClientID,
			ClientSecret: s.cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  s.cfg.RedirectURL,
			Scopes:       s.cfg.Scopes,
		},
		endSession: meta.EndSessionEndpoint,
		issParam:   meta.IssParam,
	}
	s.log.Info("provider discovered", "issuer", s.cfg.Issuer, "end_session_endpoint", meta.EndSessionEndpoint)
	return s.disc, nil
}

// currentDiscovery returns the discovery result, or nil if it has not succeeded yet;
// it never touches the network.
func (s *server) currentDiscovery() *discovered {
	s.discMu.Lock()
	defer s.discMu.Unlock()
	return s.disc
}

// authStyle picks how the client authenticates at the token endpoint. It is
// never left to x/oauth2's auto-detection: that retries a failed code exchange
// with the other style, and a provider may treat the second use of a code as
// replay and revoke the tokens (RFC 6749 §4.1.2).
func (s *server) authStyle(supported []string) oauth2.AuthStyle {
	if s.cfg.ClientSecret == "" {
		return oauth2.AuthStyleInParams // public client: client_id in the body, no secret
	}
	// client_secret_basic is the default when the provider lists nothing
	// (OpenID Connect Discovery 1.0 §3).
	if len(supported) > 0 && !slices.Contains(supported, "client_secret_basic") && slices.Contains(supported, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// clientContext carries the provider HTTP client for x/oauth2 and go-oidc calls.
func (s *server) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, s.client)
}

// --- sessions ---

const sessionCookie = "demo_rp_session"

func (s *server) cookieName() string {
	if s.secureCookie {
		return "__Host-" + sessionCookie
	}
	return sessionCookie
}

// withSession runs fn with the request's session locked, or with nil when the
// request has none. Callers must not keep the pointer after fn returns.
func (s *server) withSession(r *http.Request, fn func(*session)) {
	var id string
	if c, err := r.Cookie(s.cookieName()); err == nil {
		id = c.Value
	}
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	sess := s.sessions[id]
	if sess != nil && s.cfg.Now().Sub(sess.created) > sessionTTL {
		delete(s.sessions, id)
		sess = nil
	}
	fn(sess)
}

// newSession stores a fresh session under a new random ID, drops the request's
// old one (no session fixation across sign-in) and sets the cookie.
func (s *server) newSession(w http.ResponseWriter, r *http.Request, init func(*session)) {
	id := rand.Text()
	now := s.cfg.Now()
	sess := &session{created: now, csrf: rand.Text()}
	s.sessMu.Lock()
	if c, err := r.Cookie(s.cookieName()); err == nil {
		delete(s.sessions, c.Value)
	}
	for k, v := range s.sessions {
		if now.Sub(v.created) > sessionTTL {
			delete(s.sessions, k)
		}
	}
	init(sess)
	s.sessions[id] = sess
	s.sessMu.Unlock()
	//nolint:gosec // G124: Secure is set when the redirect URL is https (s.secureCookie)
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(),
		Value:    id,
		Path:     "/",
		MaxAge:   int(sessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   s.secureCookie,
		// Lax lets the cookie ride on the top-level redirect back from the provider.
		SameSite: http.SameSiteLaxMode,
	})
}

// validCSRF compares the form's token with the session's in constant time.
func validCSRF(sess *session, r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return sess != nil && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) == 1
}

// --- rendering ---

type errorPage struct {
	Title       string
	Code        string
	Description string
}

func (s *server) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := s.pages[page].Execute(&buf, data); err != nil {
		s.log.Error("render template", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages can carry tokens and claims.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *server) renderError(w http.ResponseWriter, status int, title, code, desc string) {
	s.render(w, status, "error.html", errorPage{Title: title, Code: code, Description: desc})
}
