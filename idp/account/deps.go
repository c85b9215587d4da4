// Package account serves users on the public listener who look after
// their own account: the one-time setup link (/setup/:token, the first
// passkey) and the account page (/account: passkeys, sessions, connected
// applications). It signs users in with the browser session of idp/web;
// the sign-in ceremony itself and consent belong to the signin audience,
// reached through the SignIn functions in Deps. Routes and middleware are
// listed in idp/routes.go.
//
// It may import idp/web, oidc, passkeys, models, templates and static; it
// never imports idp or another audience package (signin, admin).
package account

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// PageNames are the pages of this package.
var PageNames = []string{"setup", "account", "account_signin", "recover", "email_verify", "signup", "recovery_codes"}

// Passkeys is what the account pages need of the passkey service.
type Passkeys interface {
	web.PolicyEvaluator
	BeginRegistration(ctx context.Context, user *models.User, setupTokenID string) (string, []byte, error)
	FinishRegistrationBound(ctx context.Context, ceremonyID string, b passkeys.RegistrationBinding, body []byte, name string) (*models.Credential, error)
}

// SignIn is what the account pages borrow from the sign-in audience.
type SignIn struct {
	// SessionSignIn finishes a passkey ceremony not tied to an auth
	// request and starts or refreshes the browser session.
	SessionSignIn func(c echo.Context, ceremonyID string, credential json.RawMessage, via string) error
	// PasskeyFailure audits a refused ceremony and returns the error to
	// answer with.
	PasskeyFailure func(c echo.Context, clientID string, err error) error
	// RevokeConsent withdraws a user's consent to a client.
	RevokeConsent func(c echo.Context, userID, clientID string) error
}

// Config is the part of the server configuration the account pages read.
type Config struct {
	RPID   string // WebAuthn relying party ID (for the signal API)
	Now    func() time.Time
	Logger *slog.Logger
}

// Deps are the account pages' dependencies, wired in idp.
type Deps struct {
	DB       *models.DB
	Pages    *web.Pages
	Auditor  *web.Auditor
	Sessions *web.Sessions
	Passkeys Passkeys
	SignIn   SignIn
	Config   Config
	Recovery Recovery      // recovery.go
	Profile  Profile       // profile.go
	Signup   Signup        // signup.go
	Codes    RecoveryCodes // recoverycodes.go
}

// Handlers serves the setup link and the account page.
type Handlers struct {
	db *models.DB
	web.Kit
	sessions *web.Sessions
	passkeys Passkeys
	signIn   SignIn
	cfg      Config
	recovery Recovery
	profile  Profile
	signup   Signup
	codes    RecoveryCodes
}

// New returns the account pages' handlers.
func New(d Deps) *Handlers {
	return &Handlers{db: d.DB, Kit: web.Kit{Pages: d.Pages, Auditor: d.Auditor}, sessions: d.Sessions, passkeys: d.Passkeys,
		signIn: d.SignIn, cfg: d.Config, recovery: d.Recovery, profile: d.Profile, signup: d.Signup, codes: d.Codes}
}

func (s *Handlers) withPolicy(ctx context.Context, userID string, rows []web.PasskeyRow) []web.PasskeyRow {
	return web.WithPolicy(ctx, s.passkeys, s.cfg.Logger, userID, rows)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
