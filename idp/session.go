package idp

import (
	"encoding/json"
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

// handleSessionLoginBegin starts a discoverable passkey ceremony that is
// not tied to an OIDC auth request (account page, device page).
func (s *Server) handleSessionLoginBegin(c echo.Context) error {
	id, opts, err := s.passkeys.BeginLogin(c.Request().Context(), "")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ceremonyBegin{CeremonyID: id, Options: opts})
}

// sessionSignIn finishes such a ceremony: it verifies the assertion,
// starts or refreshes the browser session and audits the sign-in with via
// naming the page.
func (s *Server) sessionSignIn(c echo.Context, ceremonyID string, credential json.RawMessage, via string) error {
	res, err := s.passkeys.FinishLogin(c.Request().Context(), ceremonyID, "", credential)
	if err != nil {
		return s.passkeyFailure(c, "", err)
	}
	sid, err := s.startSession(c, res, s.cfg.Now().UTC())
	if err != nil {
		return err
	}
	s.audit(c, &models.AuditEvent{Type: models.EventSignIn, Success: true, UserID: res.User.ID,
		Detail: models.JSONMap{"credential": res.Credential.ID, "amr": res.AMR, "session": sid, "via": via}})
	return nil
}
