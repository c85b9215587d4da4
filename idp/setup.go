package idp

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

type setupPage struct {
	base
	Token, Username, DisplayName, Expires string
}

// setupUser resolves a setup token from the URL to its user. The token is
// never logged (the logger records route patterns only).
func (s *Server) setupUser(c echo.Context) (*models.SetupToken, *models.User, error) {
	ctx := c.Request().Context()
	st, err := s.db.SetupTokenByRaw(ctx, c.Param("token"))
	switch {
	case errors.Is(err, models.ErrExpired):
		return nil, nil, &appError{Status: http.StatusGone, Message: "This setup link has expired.",
			Hint: "Ask your administrator for a new setup link.", Err: err}
	case errors.Is(err, models.ErrNotFound):
		return nil, nil, &appError{Status: http.StatusNotFound, Message: "This setup link is not valid or has already been used.",
			Hint: "Setup links work once. Ask your administrator for a new one.", Err: err}
	case err != nil:
		return nil, nil, err
	}
	u, err := s.db.UserByID(ctx, st.UserID)
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled {
		return nil, nil, newError(http.StatusForbidden, "This account is disabled. Contact your administrator.", nil)
	}
	return st, u, nil
}

func (s *Server) handleSetupPage(c echo.Context) error {
	st, u, err := s.setupUser(c)
	if err != nil {
		return err
	}
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	return s.render(c, http.StatusOK, "setup", &setupPage{
		base:  base{Scripts: []string{"webauthn.js", "setup.js"}},
		Token: c.Param("token"), Username: u.Username, DisplayName: name,
		Expires: humanUntil(st.ExpiresAt.Sub(s.cfg.Now())),
	})
}

func (s *Server) handleSetupBegin(c echo.Context) error {
	st, u, err := s.setupUser(c)
	if err != nil {
		return err
	}
	id, opts, err := s.passkeys.BeginRegistration(c.Request().Context(), u, st.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ceremonyBegin{CeremonyID: id, Options: opts})
}

func (s *Server) handleSetupFinish(c echo.Context) error {
	var req struct {
		CeremonyID string          `json:"ceremonyID"`
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	st, u, err := s.setupUser(c)
	if err != nil {
		return err
	}
	if len(req.Name) > 64 {
		return newError(http.StatusBadRequest, "The passkey name must be at most 64 characters.", nil)
	}
	cred, err := s.passkeys.FinishRegistrationBound(c.Request().Context(), req.CeremonyID,
		passkeys.RegistrationBinding{UserID: u.ID, SetupTokenID: st.ID}, req.Credential, req.Name)
	if err != nil {
		return s.passkeyFailure(c, "", err)
	}
	s.audit(c, &models.AuditEvent{Type: models.EventPasskeyAdded, Success: true, UserID: u.ID,
		Detail: models.JSONMap{"credential": cred.ID, "name": cred.Name, "via": "setup_link"}})
	s.audit(c, &models.AuditEvent{Type: models.EventSetupLinkUsed, Success: true, UserID: u.ID,
		Detail: models.JSONMap{"setup_link": st.ID}})
	return c.JSON(http.StatusOK, map[string]string{"status": "created", "name": cred.Name})
}

func humanUntil(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "in less than a minute"
	case d < 2*time.Hour:
		return "in " + d.Round(time.Minute).String()
	default:
		return "in about " + d.Round(time.Hour).String()
	}
}
