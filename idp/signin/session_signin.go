package signin

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
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

// SessionSignIn finishes such a ceremony with one call of the sign-in
// service (verify; sign count, session and audit event in one
// transaction) and sets the session cookie. via names the page.
func (s *Handlers) SessionSignIn(c echo.Context, ceremonyID string, credential json.RawMessage, via string) error {
	b, err := s.browser(c)
	if err != nil {
		return err
	}
	out, err := s.svc.FinishSession(c.Request().Context(), PasskeyAnswer{CeremonyID: ceremonyID, Credential: credential}, b, via)
	if err != nil {
		return PasskeyError(err)
	}
	s.setSession(c, out)
	return nil
}
