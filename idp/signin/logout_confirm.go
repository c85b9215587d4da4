package signin

import (
	"context"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// RP-initiated logout without a valid id_token_hint cannot tell who asks:
// any site could link to /end_session. OpenID Connect RP-Initiated Logout
// 1.0 §2 says the OP should then ask the user, so a cross-site link never
// signs anyone out silently. The confirmation form is CSRF protected.

// PageNames are the pages of this package.
var PageNames = []string{"login", "home", "logout_confirm", "consent", "device", "device_approve"}

type logoutConfirmPage struct {
	web.Base
	ClientID, ClientName, RedirectURI, State, Username string
}

// confirmLogout answers /end_session when no valid id_token_hint came: the
// confirmation page when a session exists, else straight to the validated
// post-logout redirect (there is nothing to end).
func (s *Handlers) confirmLogout(c echo.Context) error {
	ctx := c.Request().Context()
	clientID, uri, state := c.FormValue("client_id"), c.FormValue("post_logout_redirect_uri"), c.FormValue("state")
	sess, err := s.sessions.Current(c)
	if err != nil {
		return err
	}
	if sess == nil {
		return c.Redirect(http.StatusFound, s.postLogoutTarget(ctx, clientID, uri, state))
	}
	p := &logoutConfirmPage{ClientID: clientID, State: state, RedirectURI: s.op.PostLogoutRedirect(ctx, clientID, uri)}
	if cl, err := s.db.ClientByID(ctx, clientID); err == nil {
		p.ClientName = cl.Name
	}
	if u, err := s.db.UserByID(ctx, sess.UserID); err == nil {
		p.Username = u.Username
	}
	// RP-Initiated Logout 1.0 §2 allows POST to the end-session endpoint,
	// and an RP's form posts it cross-site. Showing the confirmation
	// changes nothing, so the CSRF middleware runs as for a GET: it only
	// issues the token the page's form carries; the confirmation POST is
	// the one it checks. Without the Fetch Metadata header it issues the
	// double-submit token and cookie, which work in every browser.
	if r := c.Request(); r.Method != http.MethodGet {
		safe := r.Clone(ctx)
		safe.Method = http.MethodGet
		safe.Header.Del("Sec-Fetch-Site")
		c.SetRequest(safe)
	}
	return s.csrf(func(c echo.Context) error { return s.Render(c, http.StatusOK, "logout_confirm", p) })(c)
}

// HandleLogoutConfirm ends the browser session after the user confirmed,
// then redirects to the post-logout URI if it is registered for the client.
func (s *Handlers) HandleLogoutConfirm(c echo.Context) error {
	ctx := c.Request().Context()
	sess, err := s.sessions.Current(c)
	if err != nil {
		return err
	}
	if sess != nil {
		if err := s.db.EndSession(ctx, sess.ID); err != nil {
			return err
		}
		s.Audit(c, &models.AuditEvent{Type: models.EventSignOut, Success: true, UserID: sess.UserID,
			ClientID: c.FormValue("client_id"), Detail: models.JSONMap{"session": sess.ID, "via": "end_session_confirm"}})
	}
	s.sessions.ClearCookie(c.Response().Writer)
	return c.Redirect(http.StatusSeeOther, s.postLogoutTarget(ctx, c.FormValue("client_id"), c.FormValue("post_logout_redirect_uri"), c.FormValue("state")))
}

// postLogoutTarget is the registered post_logout_redirect_uri with state,
// or the signed-out page.
func (s *Handlers) postLogoutTarget(ctx context.Context, clientID, uri, state string) string {
	target := s.op.PostLogoutRedirect(ctx, clientID, uri)
	if target == "" {
		return s.cfg.Issuer + "/logged-out"
	}
	if state != "" {
		u, err := url.Parse(target)
		if err != nil {
			return s.cfg.Issuer + "/logged-out"
		}
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	return target
}
