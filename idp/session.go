package idp

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
)

// sessionCookie is the browser session cookie name. Over https it carries
// the __Host- prefix: Secure, Path=/, no Domain, so no sibling host can set
// or read it.
func (s *Server) sessionCookie() string {
	if s.cfg.SecureCookies() {
		return "__Host-latchkey_session"
	}
	return "latchkey_session"
}

// currentSession returns the live session named by the cookie, or nil.
func (s *Server) currentSession(c echo.Context) (*models.Session, error) {
	ck, err := c.Cookie(s.sessionCookie())
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	sess, err := s.db.ActiveSession(c.Request().Context(), ck.Value)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	return sess, err
}

func (s *Server) setSessionCookie(c echo.Context, raw string) {
	c.SetCookie(&http.Cookie{
		Name: s.sessionCookie(), Value: raw, Path: "/",
		MaxAge: int(s.cfg.SessionTTL.Seconds()), HttpOnly: true,
		Secure: s.cfg.SecureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.SecureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

// audit writes a security event; a failure to audit is logged, not fatal
// to the request that caused it.
func (s *Server) audit(c echo.Context, ev *models.AuditEvent) {
	ev.IP = c.RealIP()
	if err := s.db.Audit(c.Request().Context(), ev); err != nil {
		s.cfg.Logger.Error("audit", "type", ev.Type, "err", err)
	}
}
