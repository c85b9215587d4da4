package account

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
)

// Errors of recovery codes.
var (
	// ErrRecoveryCode: the account and code did not work (unknown account,
	// wrong or used code, too many tries, recovery off: all alike).
	ErrRecoveryCode = errors.New("the account and recovery code do not match")
	// ErrRecoveryOff: recovery is off for this account.
	ErrRecoveryOff = errors.New("recovery is off for this account")
)

// RecoveryCodes are one-time recovery codes (wired in idp).
type RecoveryCodes struct {
	// Allowed reports whether the user may recover by itself.
	Allowed func(ctx context.Context, u *models.User) (bool, error)
	// Generate replaces the user's codes and returns the new ones.
	Generate func(ctx context.Context, u *models.User, clientIP string) ([]string, error)
	// Use spends a code of the account named by who and returns the path
	// of a new setup link; ErrRecoveryCode when it does not work.
	Use func(ctx context.Context, who, code, clientIP, lang string) (string, error)
	// Left counts the user's unused codes.
	Left func(ctx context.Context, userID string) (int64, error)
}

type recoveryCodesPage struct {
	web.Base
	Codes []string
	// Username names the account on the page and on its printout.
	Username string
}

// HandleRecoveryCodesCreate serves POST /account/recovery-codes: ten new
// codes replace the old ones and are shown once. Like adding a passkey, it
// needs a recent passkey ceremony: a code is a way into the account, so a
// stolen session cookie must not be enough to mint them.
func (s *Handlers) HandleRecoveryCodesCreate(c echo.Context, sess *models.Session, u *models.User) error {
	if s.cfg.Now().Sub(sess.AuthTime) > web.FreshSignIn {
		return &web.Error{Status: http.StatusUnauthorized, Message: i18n.Key("err.reauth_codes"), Hint: i18n.Key("err.reauth_codes_hint")}
	}
	codes, err := s.codes.Generate(c.Request().Context(), u, c.RealIP())
	if errors.Is(err, ErrRecoveryOff) {
		return web.NewError(http.StatusForbidden, i18n.Key("err.recovery_codes_off"), nil)
	}
	if err != nil {
		return err
	}
	return s.Render(c, http.StatusOK, "recovery_codes", &recoveryCodesPage{Base: web.Base{Scripts: []string{"codes.js"}}, Codes: codes, Username: u.Username})
}

// HandleRecoverCodeUse serves POST /recover/code: a username or address
// and a recovery code; when they match, the code is spent and the browser
// goes on to the setup page of a new one-time link.
func (s *Handlers) HandleRecoverCodeUse(c echo.Context) error {
	p := &recoverPage{Enabled: s.recovery.Enabled, CodesEnabled: s.recovery.CodesEnabled, Expires: s.recovery.Expires,
		Who: strings.TrimSpace(c.FormValue("who"))}
	if !p.CodesEnabled {
		return s.Render(c, http.StatusForbidden, "recover", p)
	}
	path, err := s.codes.Use(c.Request().Context(), p.Who, c.FormValue("code"), c.RealIP(), s.Pages.Tr(c).Lang())
	if errors.Is(err, ErrRecoveryCode) {
		p.CodeError = i18n.Key("err.recovery_code")
		return s.Render(c, http.StatusBadRequest, "recover", p)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, path)
}
