// Package admin serves the administrators on the internal listener: the
// console (HTML pages, signed in through Latchkey's own OIDC flow with the
// built-in client, admin role required) and the REST API /api/v1 (bearer
// API tokens, JSON errors). Routes and their middleware are listed in
// idp/routes.go; this package provides the handlers and the two guards
// (RequireAdmin, RequireAPIToken).
//
// It may import idp/web, oidc, passkeys, models, templates and static; it
// never imports idp or another audience package (signin, account).
package admin

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/outbound"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// Provider is what the console needs of the OIDC provider.
type Provider interface {
	RotateKeys(ctx context.Context, actor string) error
	RedeemCode(ctx context.Context, r oidc.CodeRedemption) (*oidc.SignedIn, error)
}

// Passkeys is what the console needs of the passkey service.
type Passkeys interface {
	web.PolicyEvaluator
	MetadataStatus(ctx context.Context) (*passkeys.MDSInfo, error)
	GlobalPolicy() passkeys.Policy
}

// Config is the part of the server configuration the console reads.
type Config struct {
	Issuer       string // the public issuer, where the console signs in
	AdminURL     string // the console's own base URL
	SessionTTL   time.Duration
	SetupLinkTTL time.Duration
	// Warning, when set, is shown on every console page: the master key
	// is inside the data directory (cmd/latchkey, masterkey.go).
	Warning string
	Now     func() time.Time
	Logger  *slog.Logger
	// Outbound checks back-channel logout URIs as delivery will.
	Outbound outbound.Policy
	// Registration is the dynamic client registration mode (serve
	// --registration: off, token or open), shown with the initial access
	// tokens.
	Registration string
}

// Signup is the sign-up policy as the console sees and sets it (wired in
// idp, signup.go).
type Signup struct {
	// Policy returns the policy in force, its domains, and whether serve
	// --signup fixes it.
	Policy func(ctx context.Context) (policy string, domains []string, fixed bool, err error)
	// Set stores the policy; models.ErrInvalid with the problems.
	Set func(ctx context.Context, policy string, domains []string, actor string) error
}

// Deps are the console's dependencies, wired in idp.
type Deps struct {
	DB       *models.DB
	Pages    *web.Pages
	Auditor  *web.Auditor
	Provider Provider
	Passkeys Passkeys
	// IssueSetupLink creates, audits and returns a one-time setup URL.
	IssueSetupLink func(ctx context.Context, userID, actor string) (string, error)
	Config         Config
	Mail           Mail   // mail.go
	Signup         Signup // signup_links.go
}

// Handlers serves the console and the admin API.
type Handlers struct {
	db *models.DB
	web.Kit
	op             Provider
	passkeys       Passkeys
	issueSetupLink func(ctx context.Context, userID, actor string) (string, error)
	cfg            Config
	// adminSecret is the built-in console client's secret (EnsureClient).
	adminSecret string
	// overviewCache holds the overview's totals (audit.go).
	overviewCache atomic.Pointer[overviewFigures]
	mail          Mail
	signup        Signup
}

// New returns the console's handlers; call EnsureClient before serving.
func New(d Deps) *Handlers {
	return &Handlers{db: d.DB, Kit: web.Kit{Pages: d.Pages, Auditor: d.Auditor}, op: d.Provider, passkeys: d.Passkeys,
		issueSetupLink: d.IssueSetupLink, cfg: d.Config, mail: d.Mail, signup: d.Signup}
}

func (s *Handlers) withPolicy(ctx context.Context, userID string, rows []web.PasskeyRow) []web.PasskeyRow {
	return web.WithPolicy(ctx, s.passkeys, s.cfg.Logger, userID, rows)
}

// policyInfo is embedded in the admin overview page: the global policy
// and the FIDO metadata in use (nil when none was imported).
type policyInfo struct {
	GlobalPolicy passkeys.PolicyLevel
	Metadata     *passkeys.MDSInfo
}

func (s *Handlers) policyInfo(ctx context.Context) policyInfo {
	md, err := s.passkeys.MetadataStatus(ctx)
	if err != nil {
		s.cfg.Logger.Error("metadata status", "err", err)
	}
	return policyInfo{GlobalPolicy: s.passkeys.GlobalPolicy().Level, Metadata: md}
}
