package signin

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// Consent (OIDC Core §3.1.2.4): before an application gets a code for a
// user, the user approves the scopes it asks for, unless the client is
// first-party (Client.SkipConsent, and the built-in admin console) or the
// user already granted those scopes (remembered per user and client,
// revocable on the account page). prompt=consent always asks;
// prompt=none fails with consent_required when consent is missing.
//
// The auth request is completed with the signed-in user but flagged
// consent_pending, so op issues no code (its Done is false) until the
// consent page clears the flag; the page is bound to the browser session
// that signed in.

// scopeInfo describes a scope on the consent page.
type scopeInfo struct {
	Name, Description string
	Claims            []string
}

var scopeDescriptions = map[string]scopeInfo{
	"openid":         {Description: i18n.Key("scope.openid"), Claims: []string{"sub"}},
	"profile":        {Description: i18n.Key("scope.profile"), Claims: []string{"name", "preferred_username", "updated_at", "locale"}},
	"email":          {Description: i18n.Key("scope.email"), Claims: []string{"email", "email_verified"}},
	"groups":         {Description: i18n.Key("scope.groups"), Claims: []string{"groups"}},
	"offline_access": {Description: i18n.Key("scope.offline_access")},
}

func describeScopes(scopes []string) []scopeInfo {
	out := make([]scopeInfo, 0, len(scopes))
	for _, sc := range scopes {
		d, ok := scopeDescriptions[sc]
		if !ok {
			d = scopeInfo{Description: "Access “" + sc + "”"}
		}
		d.Name = sc
		out = append(out, d)
	}
	return out
}

type consentPage struct {
	web.Base
	AuthRequestID, ClientName string
	Scopes                    []scopeInfo
	// SelfRegistered: the client registered itself (RFC 7591), so its name
	// is unchecked; the page says so and names where the browser goes.
	SelfRegistered bool
	RedirectHost   string
}

// consentRequest loads an auth request waiting for consent by the browser
// session that signed in to it.
func (s *Handlers) consentRequest(c echo.Context, id string) (*models.AuthRequest, *models.Session, error) {
	ar, err := s.db.AuthRequestByID(c.Request().Context(), id)
	if errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrExpired) || (err == nil && (!ar.Done || !ar.ConsentPending)) {
		return nil, nil, &web.Error{Status: http.StatusBadRequest, Message: i18n.Key("err.consent_expired"),
			Hint: i18n.Key("err.start_again_hint"), Err: err}
	}
	if err != nil {
		return nil, nil, err
	}
	web.SetUILocales(c, ar.UILocales) // OIDC Core §3.1.2.1
	sess, err := s.sessions.Current(c)
	if err != nil {
		return nil, nil, err
	}
	if sess == nil || ar.SessionID == nil || sess.ID != *ar.SessionID {
		return nil, nil, web.NewError(http.StatusForbidden, i18n.Key("err.consent_other"), nil)
	}
	return ar, sess, nil
}

// HandleConsentShow serves GET /consent.
func (s *Handlers) HandleConsentShow(c echo.Context) error {
	ar, _, err := s.consentRequest(c, c.QueryParam("authRequestID"))
	if err != nil {
		return err
	}
	cl, err := s.db.ClientByID(c.Request().Context(), ar.ClientID)
	if err != nil {
		return err
	}
	p := &consentPage{AuthRequestID: ar.ID, ClientName: cl.Name, Scopes: describeScopes(ar.Scopes), SelfRegistered: cl.SelfRegistered()}
	if u, err := url.Parse(ar.RedirectURI); err == nil {
		p.RedirectHost = u.Host
		if p.RedirectHost == "" {
			p.RedirectHost = u.Scheme + ":" // a native app's private-use scheme
		}
	}
	return s.Render(c, http.StatusOK, "consent", p)
}

// HandleConsentDecide records "allow" (remembered for the scopes asked)
// and continues to op's callback, or ends the request with access_denied.
func (s *Handlers) HandleConsentDecide(c echo.Context) error {
	ctx := c.Request().Context()
	ar, sess, err := s.consentRequest(c, c.FormValue("authRequestID"))
	if err != nil {
		return err
	}
	if c.FormValue("decision") != "allow" {
		s.Audit(c, &models.AuditEvent{Type: EventConsentDenied, Success: false, UserID: sess.UserID, ClientID: ar.ClientID,
			Detail: models.JSONMap{"scopes": ar.Scopes}})
		return s.failAuthRequest(c, ar.ID, oidc.AccessDenied, "the user denied access")
	}
	if err := s.db.GrantConsent(ctx, sess.UserID, ar.ClientID, ar.Scopes); err != nil {
		return err
	}
	if err := s.db.SetConsentPending(ctx, ar.ID, false); err != nil {
		return err
	}
	s.Audit(c, &models.AuditEvent{Type: EventConsentGranted, Success: true, UserID: sess.UserID, ClientID: ar.ClientID,
		Detail: models.JSONMap{"scopes": ar.Scopes}})
	return c.Redirect(http.StatusSeeOther, s.op.CallbackURL(ctx, ar.ID))
}

// Consent audit events.
const (
	EventConsentGranted = "consent_granted"
	EventConsentDenied  = "consent_denied"
	EventConsentRevoked = "consent_revoked"
)

// RevokeConsent withdraws a user's consent to a client (no error when there
// was none) and audits it.
func (s *Handlers) RevokeConsent(c echo.Context, userID, clientID string) error {
	err := s.db.RevokeConsent(c.Request().Context(), userID, clientID)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.Audit(c, &models.AuditEvent{Type: EventConsentRevoked, Success: true, UserID: userID, ActorID: userID, ClientID: clientID})
	return nil
}
