package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// The admin console signs admins in through Latchkey's own OpenID Connect
// flow: it is a built-in confidential client (adminClientID) whose redirect
// URI is on the internal listener. The console redirects to /authorize on
// the public issuer (authorization code + S256 PKCE, prompt=login so every
// console sign-in takes a fresh passkey ceremony), redeems the code in
// process and verifies the ID token (oidc.Provider.RedeemCode), then keeps
// its own session (models.AdminSession) in a cookie on the internal origin.
// Only enabled users with the admin role get a session.

// adminClientID is the client ID of the built-in console client.
const adminClientID = "latchkey-admin-console"

// adminSecretName names the console client's sealed secret (models.Secret):
// every instance derives the same secret, so no instance rotates it away.
const adminSecretName = "admin_console_client_secret"

func (c *Config) adminDefaults() {
	if c.AdminURL == "" {
		host, port, err := net.SplitHostPort(c.InternalListen)
		if err != nil {
			return // Validate reports the listen address
		}
		if host == "" || host == "127.0.0.1" || host == "::1" || host == "0.0.0.0" || host == "::" {
			host = "localhost" // what a browser on this machine can reach
		}
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		c.AdminURL = scheme + "://" + net.JoinHostPort(host, port)
	}
	c.AdminURL = strings.TrimRight(c.AdminURL, "/")
}

func (c *Config) validateAdmin() []string {
	u, err := url.Parse(c.AdminURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.RawQuery != "" {
		return []string{fmt.Sprintf("admin URL %q must be an absolute http or https URL without a path", c.AdminURL)}
	}
	return nil
}

func (s *Server) adminSecure() bool { return strings.HasPrefix(s.cfg.AdminURL, "https://") }

func (s *Server) adminCookieName(name string) string {
	if s.adminSecure() {
		return "__Host-" + name
	}
	return name
}

// ensureAdminClient creates the built-in console client or brings its
// redirect URI and secret in line with the configuration.
func (s *Server) ensureAdminClient(ctx context.Context, sealer *models.Sealer) error {
	aad := []byte(adminSecretName)
	sealed, err := s.db.SecretValue(ctx, adminSecretName, func() ([]byte, error) {
		return sealer.Seal([]byte(models.NewToken()), aad), nil
	})
	if err != nil {
		return fmt.Errorf("admin console client secret: %w", err)
	}
	raw, err := sealer.Open(sealed, aad)
	if err != nil {
		return fmt.Errorf("admin console client secret: %w", err)
	}
	s.adminSecret = string(raw)
	want := models.Client{
		ID: adminClientID, Name: "Latchkey admin console", Builtin: true,
		RedirectURIs:           models.StringList{s.cfg.AdminURL + "/admin/callback"},
		PostLogoutRedirectURIs: models.StringList{s.cfg.AdminURL + "/admin/signed-out"},
		AllowedScopes:          models.StringList{"openid", "profile"},
		AllowedGroups:          models.StringList{},
		IDTokenAlg:             "ES256", AccessTokenFormat: models.AccessTokenJWT,
		IDTokenTTL: 300, AccessTokenTTL: 300,
	}
	c, err := s.db.ClientByID(ctx, adminClientID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		if _, err := s.db.CreateClient(ctx, &want); err != nil && !errors.Is(err, models.ErrConflict) {
			return fmt.Errorf("create admin console client: %w", err)
		}
		c = &want
	case err != nil:
		return err
	}
	want.CreatedAt, want.UpdatedAt = c.CreatedAt, s.cfg.Now().UTC()
	want.SecretHash = models.HashToken(s.adminSecret)
	return s.db.SaveClient(ctx, &want)
}

// adminFlow is the state of one console sign-in, kept in a short-lived
// HttpOnly cookie on the internal origin.
type adminFlow struct{ State, Nonce, Verifier, Next string }

func randomString() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (f adminFlow) encode() string {
	return strings.Join([]string{f.State, f.Nonce, f.Verifier, base64.RawURLEncoding.EncodeToString([]byte(f.Next))}, ".")
}

func decodeFlow(v string) (adminFlow, bool) {
	p := strings.Split(v, ".")
	if len(p) != 4 {
		return adminFlow{}, false
	}
	next, err := base64.RawURLEncoding.DecodeString(p[3])
	if err != nil {
		return adminFlow{}, false
	}
	return adminFlow{State: p[0], Nonce: p[1], Verifier: p[2], Next: string(next)}, true
}

// safeNext keeps a post-sign-in target inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/admin"
	}
	return next
}

func (s *Server) setAdminCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: s.adminCookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.adminSecure(), SameSite: http.SameSiteLaxMode})
}

// handleAdminLogin starts the console sign-in at the issuer.
func (s *Server) handleAdminLogin(c echo.Context) error {
	f := adminFlow{State: randomString(), Nonce: randomString(), Verifier: randomString(), Next: safeNext(c.QueryParam("next"))}
	s.setAdminCookie(c, "latchkey_admin_flow", f.encode(), 600)
	sum := sha256.Sum256([]byte(f.Verifier))
	q := url.Values{
		"client_id": {adminClientID}, "response_type": {"code"}, "scope": {"openid profile"},
		"redirect_uri": {s.cfg.AdminURL + "/admin/callback"}, "state": {f.State}, "nonce": {f.Nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"prompt": {"login"},
	}
	return c.Redirect(http.StatusFound, s.cfg.Issuer+"/authorize?"+q.Encode())
}

// handleAdminCallback finishes the console sign-in.
func (s *Server) handleAdminCallback(c echo.Context) error {
	ctx := c.Request().Context()
	ck, err := c.Cookie(s.adminCookieName("latchkey_admin_flow"))
	if err != nil {
		return &appError{Status: http.StatusBadRequest, Message: "This sign-in has expired or was started in another browser.",
			Hint: "Open the admin console again to sign in.", Err: err}
	}
	s.setAdminCookie(c, "latchkey_admin_flow", "", -1)
	f, ok := decodeFlow(ck.Value)
	if !ok || c.QueryParam("state") == "" || c.QueryParam("state") != f.State {
		return &appError{Status: http.StatusBadRequest, Message: "This sign-in response does not match the sign-in that was started.",
			Hint: "Open the admin console again to sign in."}
	}
	if e := c.QueryParam("error"); e != "" {
		return &appError{Status: http.StatusUnauthorized, Message: "Sign-in to the admin console did not complete.",
			Hint: "Try again. (" + truncate(e, 64) + ")"}
	}
	who, err := s.op.RedeemCode(ctx, oidc.CodeRedemption{ClientID: adminClientID, ClientSecret: s.adminSecret,
		Code: c.QueryParam("code"), RedirectURI: s.cfg.AdminURL + "/admin/callback", CodeVerifier: f.Verifier, Nonce: f.Nonce})
	if err != nil {
		return &appError{Status: http.StatusUnauthorized, Message: "The sign-in response could not be verified.",
			Hint: "Open the admin console again to sign in.", Err: err}
	}
	u, err := s.db.UserByID(ctx, who.Subject)
	if err != nil {
		return err
	}
	if !u.IsAdmin || u.Disabled {
		s.audit(c, &models.AuditEvent{Type: models.EventAdminSignInDenied, Success: false, UserID: u.ID, ClientID: adminClientID,
			Detail: models.JSONMap{"reason": "not an admin"}})
		// The code was redeemed to learn who signed in; the console keeps
		// no tokens for someone it refuses.
		if err := s.db.RevokeClientTokensForUser(ctx, u.ID, adminClientID); err != nil {
			return err
		}
		return s.render(c, http.StatusForbidden, "message", &messagePage{Title: "Not an administrator", IsError: true,
			Message: "You signed in as " + u.Username + ", but this account does not have the admin role.",
			Hint:    "Ask an administrator to give your account the admin role, or sign in with another account."})
	}
	raw, err := s.db.CreateAdminSession(ctx, u.ID, s.cfg.SessionTTL)
	if err != nil {
		return err
	}
	s.setAdminCookie(c, "latchkey_admin", raw, int(s.cfg.SessionTTL.Seconds()))
	s.audit(c, &models.AuditEvent{Type: models.EventAdminSignIn, Success: true, UserID: u.ID, ActorID: u.ID, ClientID: adminClientID,
		Detail: models.JSONMap{"session": who.SessionID, "amr": who.AMR}})
	return c.Redirect(http.StatusSeeOther, safeNext(f.Next))
}

// handleAdminLogout ends the console session.
func (s *Server) handleAdminLogout(c echo.Context) error {
	if ck, err := c.Cookie(s.adminCookieName("latchkey_admin")); err == nil {
		if err := s.db.EndAdminSession(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	s.setAdminCookie(c, "latchkey_admin", "", -1)
	return c.Redirect(http.StatusSeeOther, "/admin/signed-out")
}

func (s *Server) handleAdminSignedOut(c echo.Context) error {
	return s.render(c, http.StatusOK, "message", &messagePage{Title: "Signed out",
		Message: "You are signed out of the admin console.", Hint: "Open /admin to sign in again."})
}

const adminUserKey = "latchkey.admin"

// requireAdmin lets a request through only with a live console session of
// an enabled admin; others are sent to sign in.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		ck, err := c.Cookie(s.adminCookieName("latchkey_admin"))
		var sess *models.AdminSession
		if err == nil && ck.Value != "" {
			sess, err = s.db.ActiveAdminSession(ctx, ck.Value)
			if err != nil && !errors.Is(err, models.ErrNotFound) {
				return err
			}
		}
		if sess == nil {
			if c.Request().Method == http.MethodGet {
				return c.Redirect(http.StatusFound, "/admin/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			}
			return &appError{Status: http.StatusUnauthorized, Message: "Your admin console session has ended.",
				Hint: "Open /admin to sign in again; then repeat the change."}
		}
		u, err := s.db.UserByID(ctx, sess.UserID)
		if err != nil {
			return err
		}
		c.Set(adminUserKey, u)
		return next(c)
	}
}

// currentAdmin is the admin signed in to the console (set by requireAdmin).
func currentAdmin(c echo.Context) *models.User {
	u, _ := c.Get(adminUserKey).(*models.User)
	return u
}

// formCSRF is the CSRF protection of the console and the account page:
// Fetch Metadata first, else a double-submit token from the X-CSRF-Token
// header (fetch) or the _csrf form field (classic forms). The console uses
// its own cookie name: cookies do not isolate ports, and the public and
// internal listeners often share a host name.
func (s *Server) formCSRF(cookie string, secure bool) echo.MiddlewareFunc {
	if secure {
		cookie = "__Host-" + cookie
	}
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "header:X-CSRF-Token,form:_csrf",
		CookieName:     cookie,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   secure,
		CookieSameSite: http.SameSiteStrictMode,
		CookieMaxAge:   int((12 * time.Hour).Seconds()),
		ErrorHandler: func(err error, c echo.Context) error {
			return &appError{Status: http.StatusForbidden, Err: err,
				Message: "This request was refused: its CSRF protection is missing or invalid. Reload the page and try again."}
		},
	})
}
