package signin

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// HandleSessionLoginBegin starts a discoverable passkey ceremony that is
// not tied to an OIDC auth request (account page, device page).
func (s *Handlers) HandleSessionLoginBegin(c echo.Context) error {
	id, opts, err := s.passkeys.BeginLogin(c.Request().Context(), "")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, web.CeremonyBegin{CeremonyID: id, Options: opts})
}

// SessionSignIn finishes such a ceremony: it verifies the assertion,
// starts or refreshes the browser session and audits the sign-in with via
// naming the page.
func (s *Handlers) SessionSignIn(c echo.Context, ceremonyID string, credential json.RawMessage, via string) error {
	res, err := s.passkeys.FinishLogin(c.Request().Context(), ceremonyID, "", credential)
	if err != nil {
		return s.PasskeyFailure(c, "", err)
	}
	sid, err := s.startSession(c, res, s.cfg.Now().UTC())
	if err != nil {
		return err
	}
	s.audit(c, &models.AuditEvent{Type: models.EventSignIn, Success: true, UserID: res.User.ID,
		Detail: models.JSONMap{"credential": res.Credential.ID, "amr": res.AMR, "session": sid, "via": via}})
	return nil
}
