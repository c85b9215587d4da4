package account

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
)

// The user's own profile (issue 22): display name, email address (a new
// one is verified by a one-time link before it replaces the old one),
// recent sign-ins and the app launcher.

// Profile is the email change machinery, wired in idp (profile.go).
type Profile struct {
	// Sends reports whether this server sends mail; without it an email
	// change cannot be verified and is refused.
	Sends bool
	// Expires is how long an email change link works, for the page.
	Expires time.Duration
	// RequestEmailChange sends the link to newEmail and a notice to u's
	// current address. Errors: mail.ErrInvalid or models.ErrInvalid for a
	// bad address; nothing then changes.
	RequestEmailChange func(ctx context.Context, u *models.User, newEmail, clientIP, lang string) error
	// ConfirmEmailChange follows a link. Errors: models.ErrNotFound,
	// models.ErrUsed, models.ErrExpired.
	ConfirmEmailChange func(ctx context.Context, raw, clientIP, lang string) (*models.User, error)
}

// EventProfileUpdated is audited when a user changes their display name.
const EventProfileUpdated = "profile_updated"

// recentSignIns is how many sign-ins the account page shows.
const recentSignIns = 10

// HandleAccountNameSave serves POST /account/profile/name.
func (s *Handlers) HandleAccountNameSave(c echo.Context, sess *models.Session, u *models.User) error {
	name, err := models.CheckDisplayName(c.FormValue("display_name"))
	// The name is a header of every message to the user (RFC 5322
	// §3.4 display-name): mail's own bound applies too.
	if err != nil || len(name) > mail.MaxName {
		return s.renderAccount(c, http.StatusBadRequest, sess, u, i18n.Key("err.display_name_bad"))
	}
	if name == u.DisplayName {
		return c.Redirect(http.StatusSeeOther, "/account?done=name-saved")
	}
	if _, err := s.db.EditUser(c.Request().Context(), u.ID, models.UserEdit{DisplayName: &name}); err != nil {
		if errors.Is(err, models.ErrInvalid) {
			return s.renderAccount(c, http.StatusBadRequest, sess, u, i18n.Key("err.display_name_bad"))
		}
		return err
	}
	s.Audit(c, &models.AuditEvent{Type: EventProfileUpdated, Success: true, UserID: u.ID, ActorID: u.ID,
		Detail: models.JSONMap{"display_name": name}})
	return c.Redirect(http.StatusSeeOther, "/account?done=name-saved")
}

// HandleAccountEmailChange serves POST /account/profile/email: it sends
// the new address a verification link. The address changes only when the
// link is followed (HandleEmailVerifyDo).
func (s *Handlers) HandleAccountEmailChange(c echo.Context, sess *models.Session, u *models.User) error {
	if !s.profile.Sends {
		return s.renderAccount(c, http.StatusConflict, sess, u, i18n.Key("err.email_change_off"))
	}
	// The address is where recovery links go: a stolen session cookie
	// alone must not move it (as for adding a passkey).
	if s.cfg.Now().Sub(sess.AuthTime) > web.FreshSignIn {
		return s.renderAccount(c, http.StatusUnauthorized, sess, u, i18n.Key("err.reauth_for_email"))
	}
	addr := strings.TrimSpace(c.FormValue("email"))
	if mail.CheckAddress(addr) != nil {
		return s.renderAccount(c, http.StatusBadRequest, sess, u, i18n.Key("err.not_an_email"))
	}
	if strings.EqualFold(addr, u.Email) && u.EmailVerified {
		return s.renderAccount(c, http.StatusBadRequest, sess, u, i18n.Key("err.email_same"))
	}
	err := s.profile.RequestEmailChange(c.Request().Context(), u, addr, c.RealIP(), s.Pages.Tr(c).Lang())
	if errors.Is(err, models.ErrInvalid) {
		return s.renderAccount(c, http.StatusBadRequest, sess, u, i18n.Key("err.not_an_email"))
	} else if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/account?done=email-sent")
}

type emailVerifyPage struct {
	web.Base
	Token, Username, NewEmail string
	Done                      bool
}

// emailLinkError is the page of a link that cannot be followed.
func emailLinkError(err error) error {
	switch {
	case errors.Is(err, models.ErrUsed):
		return &web.Error{Status: http.StatusGone, Title: i18n.Key("err.email_link_title"), Message: i18n.Key("err.email_link_used"),
			Hint: i18n.Key("err.email_link_hint"), Err: err}
	case errors.Is(err, models.ErrExpired):
		return &web.Error{Status: http.StatusGone, Title: i18n.Key("err.email_link_title"), Message: i18n.Key("err.email_link_expired"),
			Hint: i18n.Key("err.email_link_hint"), Err: err}
	case errors.Is(err, models.ErrUserDisabled):
		return &web.Error{Status: http.StatusForbidden, Title: i18n.Key("err.email_link_title"), Message: i18n.Key("err.account_disabled"), Err: err}
	case errors.Is(err, models.ErrNotFound):
		return &web.Error{Status: http.StatusNotFound, Title: i18n.Key("err.email_link_title"), Message: i18n.Key("err.email_link_invalid"),
			Hint: i18n.Key("err.email_link_hint"), Err: err}
	}
	return err
}

// HandleEmailVerifyShow serves GET /email/verify/:token: it asks to
// confirm, and changes nothing (mail scanners open links).
func (s *Handlers) HandleEmailVerifyShow(c echo.Context) error {
	raw := c.Param("token")
	ec, err := s.db.PendingEmailChange(c.Request().Context(), raw)
	if err != nil {
		return emailLinkError(err)
	}
	u, err := s.db.UserByID(c.Request().Context(), ec.UserID)
	if err != nil {
		return err
	}
	return s.Render(c, http.StatusOK, "email_verify", &emailVerifyPage{Token: raw, Username: u.Username, NewEmail: ec.NewEmail})
}

// HandleEmailVerifyDo serves POST /email/verify/:token: the address
// changes, once.
func (s *Handlers) HandleEmailVerifyDo(c echo.Context) error {
	u, err := s.profile.ConfirmEmailChange(c.Request().Context(), c.Param("token"), c.RealIP(), s.Pages.Tr(c).Lang())
	if err != nil {
		return emailLinkError(err)
	}
	return s.Render(c, http.StatusOK, "email_verify", &emailVerifyPage{Done: true, Username: u.Username, NewEmail: u.Email})
}

// HandleAppLogo serves GET /apps/:id/logo: a launcher logo, from our own
// origin (the CSP allows images from 'self' only).
func (s *Handlers) HandleAppLogo(c echo.Context) error {
	b, typ, err := s.db.ClientLogo(c.Request().Context(), c.Param("id"))
	if err != nil {
		return web.NotFound("logo", err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, typ, b)
}

// signInRow is one of the recent sign-ins.
type signInRow struct {
	When, Browser, IP, App, Passkey string
}

// recentSignInRows reads the user's newest sign-ins from the audit log.
func (s *Handlers) recentSignInRows(ctx context.Context, t *i18n.Tr, userID string, creds []models.Credential) ([]signInRow, error) {
	evs, err := s.db.RecentSignIns(ctx, userID, recentSignIns)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, cr := range creds {
		names[cr.ID] = cr.Name
	}
	apps := map[string]string{}
	var out []signInRow
	for _, ev := range evs {
		r := signInRow{When: web.FormatTime(ev.CreatedAt), IP: ev.IP}
		if ua, _ := ev.Detail["user_agent"].(string); ua != "" {
			r.Browser = browserName(t, ua)
		}
		if id, _ := ev.Detail["credential"].(string); id != "" {
			r.Passkey = names[id]
		}
		if ev.ClientID != "" {
			name, ok := apps[ev.ClientID]
			if !ok {
				if cl, err := s.db.ClientByID(ctx, ev.ClientID); err == nil {
					name = cl.Name
				} else if !errors.Is(err, models.ErrNotFound) {
					return nil, err
				}
				apps[ev.ClientID] = name
			}
			r.App = name
		}
		out = append(out, r)
	}
	return out, nil
}
