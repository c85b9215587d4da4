package idp

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// handleEndSession runs op's RP-initiated logout endpoint with the browser
// session in the context, and clears the cookie once op's storage reports
// that it ended the session.
func (s *Server) handleEndSession(c echo.Context) error {
	if !s.op.ValidIDTokenHint(c.Request().Context(), c.FormValue("id_token_hint")) {
		return s.confirmLogout(c) // logout_confirm.go
	}
	raw := ""
	if ck, err := c.Cookie(s.sessionCookie()); err == nil {
		raw = ck.Value
	}
	ctx, res := oidc.WithBrowserSession(c.Request().Context(), raw)
	w := &logoutWriter{ResponseWriter: c.Response().Writer, res: res, clear: s.clearSessionCookie}
	s.op.Handler().ServeHTTP(w, c.Request().WithContext(ctx))
	if res.Ended {
		s.audit(c, &models.AuditEvent{Type: models.EventSignOut, Success: true, UserID: res.UserID,
			Detail: models.JSONMap{"session": res.SessionID}})
	}
	return nil
}

// logoutWriter adds the cookie-clearing header just before the status line.
type logoutWriter struct {
	http.ResponseWriter
	res         *oidc.LogoutResult
	clear       func(http.ResponseWriter)
	wroteHeader bool
}

func (w *logoutWriter) WriteHeader(status int) {
	if !w.wroteHeader && w.res.Ended {
		w.clear(w.ResponseWriter)
	}
	w.wroteHeader = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *logoutWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) handleLoggedOut(c echo.Context) error {
	return s.message(c, http.StatusOK, "Signed out", "You are signed out of Latchkey.", "You can close this window.")
}

type homePage struct {
	base
	SignedIn bool
	Username string
}

func (s *Server) handleHome(c echo.Context) error {
	p := &homePage{}
	sess, err := s.currentSession(c)
	if err != nil {
		return err
	}
	if sess != nil {
		if u, err := s.db.UserByID(c.Request().Context(), sess.UserID); err == nil {
			p.SignedIn, p.Username = true, u.Username
		}
	}
	return s.render(c, http.StatusOK, "home", p)
}
