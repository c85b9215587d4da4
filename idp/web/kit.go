package web

import (
	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
)

// Kit is what the handlers of every audience render pages and write audit
// events with; each audience's Handlers embeds it.
type Kit struct {
	Pages   *Pages
	Auditor *Auditor
}

// Render renders the page name with data and status.
func (k Kit) Render(c echo.Context, status int, name string, data PageData) error {
	return k.Pages.Render(c, status, name, data)
}

// Audit writes a security event with the request's client IP; a failure
// is logged, not returned.
func (k Kit) Audit(c echo.Context, ev *models.AuditEvent) { k.Auditor.Audit(c, ev) }
