package web

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
)

// Sessions reads and writes the browser session cookie of the public
// listener.
type Sessions struct {
	DB     *models.DB
	TTL    time.Duration // cookie and session lifetime
	Secure bool          // https issuer: Secure and the __Host- prefix
}

// CookieName is the browser session cookie name. Over https it carries
// the __Host- prefix: Secure, Path=/, no Domain, so no sibling host can set
// or read it.
func (s *Sessions) CookieName() string {
	if s.Secure {
		return "__Host-latchkey_session"
	}
	return "latchkey_session"
}

// Current returns the live session named by the cookie, or nil.
func (s *Sessions) Current(c echo.Context) (*models.Session, error) {
	ck, err := c.Cookie(s.CookieName())
	if errors.Is(err, http.ErrNoCookie) {
		return nil, nil // no cookie, no session
	}
	if err != nil {
		return nil, err
	}
	if ck.Value == "" {
		return nil, nil
	}
	sess, err := s.DB.ActiveSession(c.Request().Context(), ck.Value)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	return sess, err
}

// SetCookie hands the browser the raw session ID.
func (s *Sessions) SetCookie(c echo.Context, raw string) {
	c.SetCookie(&http.Cookie{ //nolint:gosec // G124: HttpOnly and SameSite are set; Secure follows the issuer's scheme (s.Secure, from Config.SecureCookies), true whenever the issuer is https
		Name: s.CookieName(), Value: raw, Path: "/",
		MaxAge: int(s.TTL.Seconds()), HttpOnly: true,
		Secure: s.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// ClearCookie removes the session cookie.
func (s *Sessions) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: HttpOnly and SameSite are set; Secure follows the issuer's scheme (s.Secure, from Config.SecureCookies), true whenever the issuer is https
		Name: s.CookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// Auditor writes security events with the client IP of the request.
type Auditor struct {
	DB     *models.DB
	Logger *slog.Logger
}

// Audit writes a security event; a failure to audit is logged, not fatal
// to the request that caused it.
func (a *Auditor) Audit(c echo.Context, ev *models.AuditEvent) {
	ev.IP = c.RealIP()
	if err := a.DB.Audit(c.Request().Context(), ev); err != nil {
		a.Logger.Error("audit", "type", ev.Type, "err", err)
	}
}
