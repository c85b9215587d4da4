// Package signin serves the browser side of the OpenID Connect flows on
// the public listener: the sign-in page op sends /authorize to, the
// passkey ceremonies, consent, device approval (RFC 8628) and the logout
// pages. op (oidc) owns the protocol endpoints; this package only
// completes or fails the auth requests op stored. Routes and middleware
// are listed in idp/routes.go.
//
// Sign-in flow:
//
//	/authorize (op)            → stores the auth request, redirects to /login
//	GET  /login?authRequestID  → live session and no prompt=login/max_age: complete at once;
//	                             prompt=none without one: login_required to the client;
//	                             otherwise the sign-in page (button + conditional UI)
//	POST /login/passkey/begin  → discoverable WebAuthn options, challenge stored server-side
//	POST /login/passkey/finish → verify, start or refresh the browser session, complete the
//	                             auth request, answer with the op callback URL
//	/authorize/callback (op)   → issues the code to the client
//
// It may import idp/web, oidc, passkeys, models, templates and static; it
// never imports idp or another audience package (account, admin).
package signin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// Provider is what the sign-in pages need of the OIDC provider.
type Provider interface {
	Handler() http.Handler
	CallbackURL(ctx context.Context, authRequestID string) string
	FailAuthRequest(w http.ResponseWriter, r *http.Request, authRequestID string, kind oidc.FailKind, description string)
	ValidIDTokenHint(ctx context.Context, raw string) bool
	PostLogoutRedirect(ctx context.Context, clientID, uri string) string
	CheckPostLogoutRedirect(ctx context.Context, clientID, idTokenHint, uri string) (ok bool, reason string, err error)
}

// Passkeys is what the sign-in pages need of the passkey service.
type Passkeys interface {
	NewLoginChallenge() ([]byte, time.Time, error)
	LoginOptions(challenge []byte) ([]byte, error)
	BeginLogin(ctx context.Context, authRequestID string) (string, []byte, error)
	VerifyLogin(ctx context.Context, ceremonyID, authRequestID string, body []byte) (*passkeys.LoginResult, error)
	VerifyBoundLogin(ctx context.Context, challenge []byte, expires *time.Time, body []byte) (*passkeys.LoginResult, error)
	SaveLogin(ctx context.Context, w passkeys.CredentialWriter, res *passkeys.LoginResult) error
	Evaluate(ctx context.Context, cred *models.Credential) (passkeys.PolicyStatus, error)
	RelatedOriginsDocument() ([]byte, error)
}

// Config is the part of the server configuration the sign-in pages read.
type Config struct {
	// Signup reports whether the sign-in page offers "Create an account"
	// (idp/signup.go).
	Signup     func(ctx context.Context) (bool, error)
	Issuer     string
	SessionTTL time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// Deps are the sign-in pages' dependencies, wired in idp.
type Deps struct {
	DB       *models.DB
	Pages    *web.Pages
	Auditor  *web.Auditor
	Sessions *web.Sessions
	// CSRF is the public listener's CSRF middleware: the logout
	// confirmation page, served from /end_session, needs its token.
	CSRF     echo.MiddlewareFunc
	Provider Provider
	Passkeys Passkeys
	Config   Config
}

// Handlers serves the sign-in, consent, device and logout pages.
type Handlers struct {
	db *models.DB
	web.Kit
	sessions *web.Sessions
	csrf     echo.MiddlewareFunc
	op       Provider
	passkeys Passkeys
	svc      *Service
	cfg      Config
}

// New returns the sign-in pages' handlers.
func New(d Deps) *Handlers {
	return &Handlers{db: d.DB, Kit: web.Kit{Pages: d.Pages, Auditor: d.Auditor}, sessions: d.Sessions, csrf: d.CSRF,
		op: d.Provider, passkeys: d.Passkeys, cfg: d.Config,
		svc: NewService(d.DB, d.Passkeys, d.Provider.CallbackURL, d.Config)}
}
