package signin

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
)

// HandleSessionEnd serves RP-initiated logout: without a valid
// id_token_hint the user confirms first (logout_confirm.go); otherwise op's
// end_session endpoint ends the browser session of the request's cookie
// and clears the cookie (oidc Config.SessionCookie).
//
// A post_logout_redirect_uri the client has not registered (or a client_id
// that contradicts the id_token_hint) is refused first, on a page, with
// nothing changed: op would answer with bare JSON.
func (s *Handlers) HandleSessionEnd(c echo.Context) error {
	ctx := c.Request().Context()
	web.SetUILocales(c, c.FormValue("ui_locales")) // RP-Initiated Logout 1.0 §2
	ok, reason, err := s.op.CheckPostLogoutRedirect(ctx, c.FormValue("client_id"), c.FormValue("id_token_hint"), c.FormValue("post_logout_redirect_uri"))
	if err != nil {
		return err
	}
	if !ok {
		return &web.Error{Status: http.StatusBadRequest, Title: i18n.Key("err.logout_refused_title"), Message: reason,
			Hint: i18n.Key("err.logout_refused_hint")}
	}
	if !s.op.ValidIDTokenHint(ctx, c.FormValue("id_token_hint")) {
		return s.confirmLogout(c) // logout_confirm.go
	}
	sess, err := s.sessions.Current(c)
	if err != nil {
		return err
	}
	s.op.Handler().ServeHTTP(c.Response(), c.Request())
	if sess == nil {
		return nil
	}
	if after, err := s.db.SessionByID(ctx, sess.ID); err == nil && after.EndedAt != nil {
		s.Audit(c, &models.AuditEvent{Type: models.EventSignOut, Success: true, UserID: sess.UserID,
			Detail: models.JSONMap{"session": sess.ID}})
	}
	return nil
}

// HandleLoggedOutShow serves GET /logged-out.
func (s *Handlers) HandleLoggedOutShow(c echo.Context) error {
	return s.Pages.Message(c, http.StatusOK, i18n.Key("logout.done_title"), i18n.Key("logout.done"), i18n.Key("logout.done_hint"))
}

type homePage struct {
	web.Base
	SignedIn bool
	Username string
}

// HandleHomeShow serves GET /.
func (s *Handlers) HandleHomeShow(c echo.Context) error {
	p := &homePage{}
	sess, err := s.sessions.Current(c)
	if err != nil {
		return err
	}
	if sess != nil {
		if u, err := s.db.UserByID(c.Request().Context(), sess.UserID); err == nil {
			p.SignedIn, p.Username = true, u.Username
		}
	}
	return s.Render(c, http.StatusOK, "home", p)
}
