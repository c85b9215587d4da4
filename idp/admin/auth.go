package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// The admin console signs admins in through Latchkey's own OpenID Connect
// flow: it is a built-in confidential client (ClientID) whose redirect
// URI is on the internal listener. The console redirects to /authorize on
// the public issuer (authorization code + S256 PKCE, prompt=login so every
// console sign-in takes a fresh passkey ceremony), redeems the code in
// process and verifies the ID token (oidc.Provider.RedeemCode), then keeps
// its own session (models.AdminSession) in a cookie on the internal origin.
// Only enabled users with the admin role get a session.

// ClientID is the client ID of the built-in console client.
const ClientID = "latchkey-admin-console"

// SecretName names the console client's sealed secret (models.Secret):
// every instance derives the same secret, so no instance rotates it away.
const SecretName = "admin_console_client_secret"

func (s *Handlers) adminSecure() bool { return Secure(s.cfg.AdminURL) }

// Secure reports whether the console is served over https (its cookies
// then get Secure and the __Host- prefix).
func Secure(adminURL string) bool { return strings.HasPrefix(adminURL, "https://") }

func (s *Handlers) adminCookieName(name string) string {
	if s.adminSecure() {
		return "__Host-" + name
	}
	return name
}

// EnsureClient creates the built-in console client or brings its
// redirect URI and secret in line with the configuration. Call it once
// before serving: the console's sign-in needs the client's secret.
func (s *Handlers) EnsureClient(ctx context.Context, sealer *models.Sealer) error {
	aad := []byte(SecretName)
	sealed, err := s.db.SecretValue(ctx, SecretName, func() ([]byte, error) {
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
		ID: ClientID, Name: "Latchkey admin console", Builtin: true,
		RedirectURIs:           models.StringList{s.cfg.AdminURL + "/admin/callback"},
		PostLogoutRedirectURIs: models.StringList{s.cfg.AdminURL + "/admin/signed-out"},
		AllowedScopes:          models.StringList{"openid", "profile"},
		AllowedGroups:          models.StringList{},
		IDTokenAlg:             "ES256", AccessTokenFormat: models.AccessTokenJWT,
		IDTokenTTL: 300, AccessTokenTTL: 300,
	}
	c, err := s.db.ClientByID(ctx, ClientID)
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

func (s *Handlers) setAdminCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: s.adminCookieName(name), Value: value, Path: "/", MaxAge: maxAge, //nolint:gosec // G124: HttpOnly and SameSite are set; Secure follows the console URL's scheme (adminSecure), true whenever the console is served over https
		HttpOnly: true, Secure: s.adminSecure(), SameSite: http.SameSiteLaxMode})
}

// HandleConsoleRedirect sends the internal listener's root to the console.
func (s *Handlers) HandleConsoleRedirect(c echo.Context) error {
	return c.Redirect(http.StatusFound, "/admin")
}

// HandleSignInStart starts the console sign-in at the issuer.
func (s *Handlers) HandleSignInStart(c echo.Context) error {
	f := adminFlow{State: randomString(), Nonce: randomString(), Verifier: randomString(), Next: safeNext(c.QueryParam("next"))}
	s.setAdminCookie(c, "latchkey_admin_flow", f.encode(), 600)
	sum := sha256.Sum256([]byte(f.Verifier))
	q := url.Values{
		"client_id": {ClientID}, "response_type": {"code"}, "scope": {"openid profile"},
		"redirect_uri": {s.cfg.AdminURL + "/admin/callback"}, "state": {f.State}, "nonce": {f.Nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"prompt": {"login"},
	}
	return c.Redirect(http.StatusFound, s.cfg.Issuer+"/authorize?"+q.Encode())
}

// HandleSignInCallback finishes the console sign-in.
func (s *Handlers) HandleSignInCallback(c echo.Context) error {
	ctx := c.Request().Context()
	ck, err := c.Cookie(s.adminCookieName("latchkey_admin_flow"))
	if err != nil {
		return &web.Error{Status: http.StatusBadRequest, Message: "This sign-in has expired or was started in another browser.",
			Hint: "Open the admin console again to sign in.", Err: err}
	}
	s.setAdminCookie(c, "latchkey_admin_flow", "", -1)
	f, ok := decodeFlow(ck.Value)
	if !ok || c.QueryParam("state") == "" || c.QueryParam("state") != f.State {
		return &web.Error{Status: http.StatusBadRequest, Message: "This sign-in response does not match the sign-in that was started.",
			Hint: "Open the admin console again to sign in."}
	}
	// RFC 9207 §2.4: the issuer advertises iss on authorization
	// responses, so a response without it, or from another issuer, is
	// refused (a mix-up, RFC 9207 §1).
	if c.QueryParam("iss") != s.cfg.Issuer {
		return &web.Error{Status: http.StatusBadRequest, Message: "This sign-in response does not come from this server.",
			Hint: "Open the admin console again to sign in."}
	}
	if e := c.QueryParam("error"); e != "" {
		return &web.Error{Status: http.StatusUnauthorized, Message: "Sign-in to the admin console did not complete.",
			Hint: "Try again. (" + web.Truncate(e, 64) + ")"}
	}
	who, err := s.op.RedeemCode(ctx, oidc.CodeRedemption{ClientID: ClientID, ClientSecret: s.adminSecret,
		Code: c.QueryParam("code"), RedirectURI: s.cfg.AdminURL + "/admin/callback", CodeVerifier: f.Verifier, Nonce: f.Nonce})
	if err != nil {
		return &web.Error{Status: http.StatusUnauthorized, Message: "The sign-in response could not be verified.",
			Hint: "Open the admin console again to sign in.", Err: err}
	}
	u, err := s.db.UserByID(ctx, who.Subject)
	if err != nil {
		return err
	}
	if !u.IsAdmin || u.Disabled {
		s.Audit(c, &models.AuditEvent{Type: models.EventAdminSignInDenied, Success: false, UserID: u.ID, ClientID: ClientID,
			Detail: models.JSONMap{"reason": "not an admin"}})
		// The code was redeemed to learn who signed in; the console keeps
		// no tokens for someone it refuses.
		if err := s.db.RevokeClientTokensForUser(ctx, u.ID, ClientID); err != nil {
			return err
		}
		return &web.Error{Status: http.StatusForbidden, Title: "Not an administrator",
			Message: "You signed in as " + u.Username + ", but this account does not have the admin role.",
			Hint:    "Ask an administrator to give your account the admin role, or sign in with another account."}
	}
	raw, err := s.db.CreateAdminSession(ctx, u.ID, s.cfg.SessionTTL)
	if err != nil {
		return err
	}
	s.setAdminCookie(c, "latchkey_admin", raw, int(s.cfg.SessionTTL.Seconds()))
	s.Audit(c, &models.AuditEvent{Type: models.EventAdminSignIn, Success: true, UserID: u.ID, ActorID: u.ID, ClientID: ClientID,
		Detail: models.JSONMap{"session": who.SessionID, "amr": who.AMR}})
	return c.Redirect(http.StatusSeeOther, safeNext(f.Next))
}

// HandleSignOut ends the console session.
func (s *Handlers) HandleSignOut(c echo.Context) error {
	if ck, err := c.Cookie(s.adminCookieName("latchkey_admin")); err == nil {
		if err := s.db.EndAdminSession(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	s.setAdminCookie(c, "latchkey_admin", "", -1)
	return c.Redirect(http.StatusSeeOther, "/admin/signed-out")
}

// HandleSignedOutShow serves GET /admin/signed-out.
func (s *Handlers) HandleSignedOutShow(c echo.Context) error {
	return s.Render(c, http.StatusOK, "message", &web.MessagePage{Title: "Signed out",
		Message: "You are signed out of the admin console.", Hint: "Open /admin to sign in again."})
}

const adminUserKey = "latchkey.admin"

// RequireAdmin lets a request through only with a live console session of
// an enabled admin; others are sent to sign in.
func (s *Handlers) RequireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
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
			return &web.Error{Status: http.StatusUnauthorized, Message: "Your admin console session has ended.",
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

// currentAdmin is the admin signed in to the console (set by RequireAdmin).
func currentAdmin(c echo.Context) *models.User {
	u, _ := c.Get(adminUserKey).(*models.User)
	return u
}
