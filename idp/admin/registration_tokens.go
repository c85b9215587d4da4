package admin

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// Initial access tokens let an application register itself as a client
// at /oauth/register (RFC 7591 §3, oidc/registration.go) while serve
// --registration is token or open. They are API tokens of kind
// "registration" (models/registration.go): stored hashed, shown once,
// expiring if asked, revocable, and accepted nowhere else.

type registrationTokenRow struct {
	models.APIToken
	Created, Expires, LastUsed, State string
}

type adminRegistrationTokensPage struct {
	adminBase
	Tokens   []registrationTokenRow
	Name     string
	Created  string // the new raw token, shown once
	Endpoint string // the registration endpoint
	Mode     string // serve --registration
}

// registrationExpiries are the lifetimes the console offers (days; 0:
// until revoked).
var registrationExpiries = map[string]time.Duration{"0": 0, "1": 24 * time.Hour, "7": 7 * 24 * time.Hour,
	"30": 30 * 24 * time.Hour, "90": 90 * 24 * time.Hour}

func (s *Handlers) renderRegistrationTokens(c echo.Context, status int, p *adminRegistrationTokensPage) error {
	ts, err := s.db.ListRegistrationTokens(c.Request().Context())
	if err != nil {
		return err
	}
	now := s.db.Now()
	for _, t := range ts {
		r := registrationTokenRow{APIToken: t, Created: web.FormatTime(t.CreatedAt), LastUsed: web.FormatTimePtr(t.LastUsedAt),
			Expires: web.FormatTimePtr(t.ExpiresAt), State: registrationTokenState(&t, now)}
		p.Tokens = append(p.Tokens, r)
	}
	p.Endpoint = s.cfg.Issuer + "/oauth/register"
	p.Mode = s.cfg.Registration
	if p.Mode == "" {
		p.Mode = "off"
	}
	return s.Render(c, status, "admin_registration_tokens", p)
}

func registrationTokenState(t *models.APIToken, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case !t.Active(now):
		return "expired"
	}
	return "active"
}

// HandleRegistrationTokensList serves GET /admin/registration-tokens.
func (s *Handlers) HandleRegistrationTokensList(c echo.Context) error {
	return s.renderRegistrationTokens(c, http.StatusOK, &adminRegistrationTokensPage{adminBase: s.adminBase(c, "registration")})
}

// HandleRegistrationTokenCreate serves POST /admin/registration-tokens.
func (s *Handlers) HandleRegistrationTokenCreate(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	p := &adminRegistrationTokensPage{adminBase: s.adminBase(c, "registration"), Name: name}
	d, ok := registrationExpiries[c.FormValue("expires_days")]
	if !ok {
		p.Error = "Choose one of the offered lifetimes."
		return s.renderRegistrationTokens(c, http.StatusBadRequest, p)
	}
	raw, t, err := s.db.CreateRegistrationToken(c.Request().Context(), name, currentAdmin(c).ID, expiry(s.db.Now(), d))
	if err != nil {
		if msg := userMessage(err); msg != "" {
			p.Error = msg
			return s.renderRegistrationTokens(c, http.StatusBadRequest, p)
		}
		return err
	}
	s.adminAudit(c, models.EventRegistrationTokenCreated, models.AuditEvent{Detail: models.JSONMap{"token": t.ID, "name": t.Name}})
	p.Created, p.Name = raw, ""
	return s.renderRegistrationTokens(c, http.StatusCreated, p)
}

func expiry(now time.Time, d time.Duration) *time.Time {
	if d <= 0 {
		return nil
	}
	t := now.Add(d)
	return &t
}

// HandleRegistrationTokenRevoke serves POST /admin/registration-tokens/:id/revoke.
func (s *Handlers) HandleRegistrationTokenRevoke(c echo.Context) error {
	if err := s.db.RevokeRegistrationToken(c.Request().Context(), c.Param("id")); err != nil {
		return web.NotFound("initial access token", err)
	}
	s.adminAudit(c, models.EventRegistrationTokenRevoked, models.AuditEvent{Detail: models.JSONMap{"token": c.Param("id")}})
	return c.Redirect(http.StatusSeeOther, "/admin/registration-tokens?done=registration-token-revoked")
}

// APIRegistrationToken is an initial access token in the admin API
// (docs/openapi.yaml); Token is set only in the answer that creates it.
type APIRegistrationToken struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	State      string `json:"state"`
	CreatedAt  string `json:"created_at"`
	ExpiresAt  string `json:"expires_at,omitempty"`
	LastUsedAt string `json:"last_used_at,omitempty"`
	RevokedAt  string `json:"revoked_at,omitempty"`
	Token      string `json:"token,omitempty"`
}

func toAPIRegistrationToken(t *models.APIToken, now time.Time) APIRegistrationToken {
	const layout = "2006-01-02T15:04:05Z"
	out := APIRegistrationToken{ID: t.ID, Name: t.Name, State: registrationTokenState(t, now), CreatedAt: t.CreatedAt.UTC().Format(layout)}
	for _, f := range []struct {
		dst *string
		v   *time.Time
	}{{&out.ExpiresAt, t.ExpiresAt}, {&out.LastUsedAt, t.LastUsedAt}, {&out.RevokedAt, t.RevokedAt}} {
		if f.v != nil {
			*f.dst = f.v.UTC().Format(layout)
		}
	}
	return out
}

// HandleAPIRegistrationTokensList serves GET /api/v1/registration-tokens:
// every initial access token, newest first (admins make them one by one).
func (s *Handlers) HandleAPIRegistrationTokensList(c echo.Context) error {
	ts, err := s.db.ListRegistrationTokens(c.Request().Context())
	if err != nil {
		return err
	}
	now := s.db.Now()
	out := make([]APIRegistrationToken, len(ts))
	for i := range ts {
		out[i] = toAPIRegistrationToken(&ts[i], now)
	}
	return c.JSON(http.StatusOK, apiList{"registration_tokens": out})
}

// HandleAPIRegistrationTokenCreate serves POST /api/v1/registration-tokens
// {"name": …, "expires_in": seconds (0 or absent: until revoked)}: the
// answer holds the token, the only time it is shown.
func (s *Handlers) HandleAPIRegistrationTokenCreate(c echo.Context) error {
	var in struct {
		Name      string `json:"name"`
		ExpiresIn int64  `json:"expires_in"`
	}
	if err := web.DecodeJSON(c, &in); err != nil {
		return err
	}
	if in.ExpiresIn < 0 || in.ExpiresIn > 10*365*24*3600 {
		return web.NewError(http.StatusUnprocessableEntity, "expires_in must be 0 (until revoked) or at most "+strconv.Itoa(10*365*24*3600)+" seconds", nil)
	}
	now := s.db.Now()
	raw, t, err := s.db.CreateRegistrationToken(c.Request().Context(), in.Name, actorID(c), expiry(now, time.Duration(in.ExpiresIn)*time.Second))
	if err != nil {
		return apiError(err, "registration token")
	}
	s.adminAudit(c, models.EventRegistrationTokenCreated, models.AuditEvent{Detail: models.JSONMap{"token": t.ID, "name": t.Name}})
	out := toAPIRegistrationToken(t, now)
	out.Token = raw
	return c.JSON(http.StatusCreated, out)
}

// HandleAPIRegistrationTokenRevoke serves DELETE
// /api/v1/registration-tokens/:id: the token is refused from the next
// registration on; the clients registered with it stay.
func (s *Handlers) HandleAPIRegistrationTokenRevoke(c echo.Context) error {
	if err := s.db.RevokeRegistrationToken(c.Request().Context(), c.Param("id")); err != nil {
		return apiError(err, "registration token")
	}
	s.adminAudit(c, models.EventRegistrationTokenRevoked, models.AuditEvent{Detail: models.JSONMap{"token": c.Param("id")}})
	return c.NoContent(http.StatusNoContent)
}
