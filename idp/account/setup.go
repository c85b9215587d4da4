package account

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

type setupPage struct {
	web.Base
	Token, Username, DisplayName string
	Expires                      time.Duration
}

// setupUser resolves a setup token from the URL to its user. The token is
// never logged (the logger records route patterns only).
func (s *Handlers) setupUser(c echo.Context) (*models.SetupToken, *models.User, error) {
	ctx := c.Request().Context()
	st, err := s.db.SetupTokenByRaw(ctx, c.Param("token"))
	switch {
	case errors.Is(err, models.ErrExpired):
		return nil, nil, &web.Error{Status: http.StatusGone, Title: i18n.Key("err.setup_expired_title"), Message: i18n.Key("err.setup_expired"),
			Hint: i18n.Key("err.setup_expired_hint"), Err: err}
	case errors.Is(err, models.ErrNotFound):
		return nil, nil, &web.Error{Status: http.StatusNotFound, Title: i18n.Key("err.setup_invalid_title"), Message: i18n.Key("err.setup_invalid"),
			Hint: i18n.Key("err.setup_invalid_hint"), Err: err}
	case err != nil:
		return nil, nil, err
	}
	u, err := s.db.UserByID(ctx, st.UserID)
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled {
		return nil, nil, web.NewError(http.StatusForbidden, i18n.Key("err.account_disabled"), nil)
	}
	return st, u, nil
}

// HandleSetupShow serves GET /setup/:token.
func (s *Handlers) HandleSetupShow(c echo.Context) error {
	st, u, err := s.setupUser(c)
	if err != nil {
		return err
	}
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	return s.Render(c, http.StatusOK, "setup", &setupPage{
		Base:  web.Base{Scripts: []string{"webauthn.js", "setup.js"}},
		Token: c.Param("token"), Username: u.Username, DisplayName: name,
		Expires: st.ExpiresAt.Sub(s.cfg.Now()),
	})
}

// HandleSetupBegin serves POST /setup/:token/begin.
func (s *Handlers) HandleSetupBegin(c echo.Context) error {
	st, u, err := s.setupUser(c)
	if err != nil {
		return err
	}
	id, opts, err := s.passkeys.BeginRegistration(c.Request().Context(), u, st.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, web.CeremonyBegin{CeremonyID: id, Options: opts})
}

// HandleSetupFinish serves POST /setup/:token/finish.
func (s *Handlers) HandleSetupFinish(c echo.Context) error {
	var req struct {
		CeremonyID string          `json:"ceremonyID"`
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := web.DecodeJSON(c, &req); err != nil {
		return err
	}
	st, u, err := s.setupUser(c)
	if err != nil {
		return err
	}
	if len(req.Name) > 64 {
		return web.NewError(http.StatusBadRequest, i18n.Key("err.passkey_name_long"), nil)
	}
	cred, err := s.passkeys.FinishRegistrationBound(c.Request().Context(), req.CeremonyID,
		passkeys.RegistrationBinding{UserID: u.ID, SetupTokenID: st.ID}, req.Credential, req.Name)
	if err != nil {
		return s.signIn.PasskeyFailure(c, "", err)
	}
	s.Audit(c, &models.AuditEvent{Type: models.EventPasskeyAdded, Success: true, UserID: u.ID,
		Detail: models.JSONMap{"credential": cred.ID, "name": cred.Name, "via": "setup_link"}})
	s.Audit(c, &models.AuditEvent{Type: models.EventSetupLinkUsed, Success: true, UserID: u.ID,
		Detail: models.JSONMap{"setup_link": st.ID}})
	return c.JSON(http.StatusOK, map[string]string{"status": "created", "name": cred.Name})
}
