package admin

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// SCIM tokens authorise a directory (Entra ID, Okta, an HR system) to
// provision users and groups at /scim/v2 on the public listener
// (idp/scim). They are API tokens of kind "scim" (models/scimtoken.go):
// stored hashed, shown once, revocable, and accepted nowhere else.

type scimTokenRow struct {
	models.APIToken
	Created, LastUsed, State string
}

type adminSCIMTokensPage struct {
	adminBase
	Tokens  []scimTokenRow
	Name    string
	Created string // the new raw token, shown once
	BaseURL string // the SCIM base URL to give the directory
}

func (s *Handlers) renderSCIMTokens(c echo.Context, status int, p *adminSCIMTokensPage) error {
	ts, err := s.db.ListSCIMTokens(c.Request().Context())
	if err != nil {
		return err
	}
	for _, t := range ts {
		r := scimTokenRow{APIToken: t, Created: web.FormatTime(t.CreatedAt), LastUsed: web.FormatTimePtr(t.LastUsedAt), State: "active"}
		if t.RevokedAt != nil {
			r.State = "revoked"
		}
		p.Tokens = append(p.Tokens, r)
	}
	p.BaseURL = s.cfg.Issuer + "/scim/v2"
	return s.Render(c, status, "admin_scim_tokens", p)
}

// HandleSCIMTokensList serves GET /admin/scim-tokens.
func (s *Handlers) HandleSCIMTokensList(c echo.Context) error {
	return s.renderSCIMTokens(c, http.StatusOK, &adminSCIMTokensPage{adminBase: s.adminBase(c, "scim")})
}

// HandleSCIMTokenCreate serves POST /admin/scim-tokens.
func (s *Handlers) HandleSCIMTokenCreate(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	p := &adminSCIMTokensPage{adminBase: s.adminBase(c, "scim"), Name: name}
	raw, t, err := s.db.CreateSCIMToken(c.Request().Context(), name, currentAdmin(c).ID)
	if err != nil {
		if msg := userMessage(err); msg != "" {
			p.Error = msg
			return s.renderSCIMTokens(c, http.StatusBadRequest, p)
		}
		return err
	}
	s.adminAudit(c, models.EventSCIMTokenCreated, models.AuditEvent{Detail: models.JSONMap{"token": t.ID, "name": t.Name}})
	p.Created, p.Name = raw, ""
	return s.renderSCIMTokens(c, http.StatusCreated, p)
}

// HandleSCIMTokenRevoke serves POST /admin/scim-tokens/:id/revoke.
func (s *Handlers) HandleSCIMTokenRevoke(c echo.Context) error {
	if err := s.db.RevokeSCIMToken(c.Request().Context(), c.Param("id")); err != nil {
		return web.NotFound("SCIM token", err)
	}
	s.adminAudit(c, models.EventSCIMTokenRevoked, models.AuditEvent{Detail: models.JSONMap{"token": c.Param("id")}})
	return c.Redirect(http.StatusSeeOther, "/admin/scim-tokens?done=scim-token-revoked")
}

// APISCIMToken is a SCIM token in the admin API (docs/openapi.yaml); Token
// is set only in the answer that creates it.
type APISCIMToken struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	State      string `json:"state"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at,omitempty"`
	RevokedAt  string `json:"revoked_at,omitempty"`
	Token      string `json:"token,omitempty"`
}

func toAPISCIMToken(t *models.APIToken) APISCIMToken {
	const layout = "2006-01-02T15:04:05Z"
	out := APISCIMToken{ID: t.ID, Name: t.Name, State: "active", CreatedAt: t.CreatedAt.UTC().Format(layout)}
	if t.LastUsedAt != nil {
		out.LastUsedAt = t.LastUsedAt.UTC().Format(layout)
	}
	if t.RevokedAt != nil {
		out.State, out.RevokedAt = "revoked", t.RevokedAt.UTC().Format(layout)
	}
	return out
}

// HandleAPISCIMTokensList serves GET /api/v1/scim-tokens: every SCIM token,
// newest first (admins make them one by one, so there are few).
func (s *Handlers) HandleAPISCIMTokensList(c echo.Context) error {
	ts, err := s.db.ListSCIMTokens(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]APISCIMToken, len(ts))
	for i := range ts {
		out[i] = toAPISCIMToken(&ts[i])
	}
	return c.JSON(http.StatusOK, apiList{"scim_tokens": out})
}

// HandleAPISCIMTokenCreate serves POST /api/v1/scim-tokens {"name": …}: the
// answer holds the token, the only time it is shown.
func (s *Handlers) HandleAPISCIMTokenCreate(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := web.DecodeJSON(c, &in); err != nil {
		return err
	}
	raw, t, err := s.db.CreateSCIMToken(c.Request().Context(), in.Name, actorID(c))
	if err != nil {
		return apiError(err, "SCIM token")
	}
	s.adminAudit(c, models.EventSCIMTokenCreated, models.AuditEvent{Detail: models.JSONMap{"token": t.ID, "name": t.Name}})
	out := toAPISCIMToken(t)
	out.Token = raw
	return c.JSON(http.StatusCreated, out)
}

// HandleAPISCIMTokenRevoke serves DELETE /api/v1/scim-tokens/:id: the token
// is refused from the next request on.
func (s *Handlers) HandleAPISCIMTokenRevoke(c echo.Context) error {
	if err := s.db.RevokeSCIMToken(c.Request().Context(), c.Param("id")); err != nil {
		return apiError(err, "SCIM token")
	}
	s.adminAudit(c, models.EventSCIMTokenRevoked, models.AuditEvent{Detail: models.JSONMap{"token": c.Param("id")}})
	return c.NoContent(http.StatusNoContent)
}
