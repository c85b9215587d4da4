package admin

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

type apiTokenRow struct {
	models.APIToken
	Created, Expires, LastUsed, State string
}

type adminTokensPage struct {
	adminBase
	Tokens  []apiTokenRow
	Name    string
	Created string // the new raw token, shown once
}

func (s *Handlers) renderTokens(c echo.Context, status int, p *adminTokensPage) error {
	ts, err := s.db.ListAPITokens(c.Request().Context())
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	for _, t := range ts {
		r := apiTokenRow{APIToken: t, Created: web.FormatTime(t.CreatedAt), Expires: "never", LastUsed: web.FormatTimePtr(t.LastUsedAt), State: "active"}
		if t.ExpiresAt != nil {
			r.Expires = web.FormatTime(*t.ExpiresAt)
		}
		switch {
		case t.RevokedAt != nil:
			r.State = "revoked"
		case !t.Active(now):
			r.State = "expired"
		}
		p.Tokens = append(p.Tokens, r)
	}
	return s.Render(c, status, "admin_tokens", p)
}

// HandleTokensList serves GET /admin/tokens.
func (s *Handlers) HandleTokensList(c echo.Context) error {
	return s.renderTokens(c, http.StatusOK, &adminTokensPage{adminBase: s.adminBase(c, "tokens")})
}

// HandleTokenCreate serves POST /admin/tokens.
func (s *Handlers) HandleTokenCreate(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	p := &adminTokensPage{adminBase: s.adminBase(c, "tokens", "admin.js"), Name: name}
	var exp *time.Time
	if days := strings.TrimSpace(c.FormValue("expires_days")); days != "" && days != "0" {
		n := atoiDefault(days, -1)
		if n < 1 || n > 3650 {
			p.Error = "Expiry must be a number of days between 1 and 3650, or empty for none."
			return s.renderTokens(c, http.StatusBadRequest, p)
		}
		t := s.cfg.Now().Add(time.Duration(n) * 24 * time.Hour)
		exp = &t
	}
	raw, t, err := s.db.CreateAPIToken(c.Request().Context(), name, currentAdmin(c).ID, exp)
	if err != nil {
		if msg := userMessage(err); msg != "" {
			p.Error = msg
			return s.renderTokens(c, http.StatusBadRequest, p)
		}
		return err
	}
	s.adminAudit(c, models.EventAPITokenCreated, models.AuditEvent{Detail: models.JSONMap{"token": t.ID, "name": t.Name}})
	p.Created, p.Name = raw, ""
	return s.renderTokens(c, http.StatusCreated, p)
}

// HandleTokenRevoke serves POST /admin/tokens/:id/revoke.
func (s *Handlers) HandleTokenRevoke(c echo.Context) error {
	if err := s.db.RevokeAPIToken(c.Request().Context(), c.Param("id")); err != nil {
		return web.NotFound("API token", err)
	}
	s.adminAudit(c, models.EventAPITokenRevoked, models.AuditEvent{Detail: models.JSONMap{"token": c.Param("id")}})
	return c.Redirect(http.StatusSeeOther, "/admin/tokens?done=token-revoked")
}
