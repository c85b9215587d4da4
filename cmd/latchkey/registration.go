package main

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// registrationCmd manages the initial access tokens of dynamic client
// registration (RFC 7591 §3, oidc/registration.go; serve --registration).
type registrationCmd struct {
	Token registrationTokenCmd `cmd:"" help:"Manage initial access tokens for dynamic client registration."`
}

type registrationTokenCmd struct {
	Add    registrationTokenAddCmd    `cmd:"" help:"Create an initial access token and print it once (only its hash is stored)."`
	List   registrationTokenListCmd   `cmd:"" help:"List initial access tokens (never the tokens themselves)."`
	Revoke registrationTokenRevokeCmd `cmd:"" help:"Revoke an initial access token at once (the clients registered with it stay)."`
}

type registrationTokenAddCmd struct {
	Name    string        `help:"Who gets it (audit events name their actor registration_token:ID)." required:""`
	Expires time.Duration `help:"Lifetime (for example 720h); 0: until revoked." default:"0"`
	JSON    bool          `name:"json" help:"Print one JSON object."`
}

func (a *registrationTokenAddCmd) Run(ctx context.Context, e *env) (err error) {
	if a.Expires < 0 {
		return fmt.Errorf("--expires must be 0 (until revoked) or positive, got %s", a.Expires)
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	var exp *time.Time
	if a.Expires > 0 {
		t := db.Now().Add(a.Expires)
		exp = &t
	}
	raw, t, err := db.CreateRegistrationToken(ctx, a.Name, "cli", exp)
	if err != nil {
		return err
	}
	registrationTokens.recordCreated(ctx, e, db, t)
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	endpoint := issuer + oidc.RegistrationEndpoint
	if a.JSON {
		return e.printJSON(map[string]any{"id": t.ID, "name": t.Name, "token": raw, "registration_endpoint": endpoint,
			"expires_at": tokenJSON(t, db.Now())["expires_at"]})
	}
	fmt.Fprintf(e.out, "Created initial access token %q (%s). It is shown only now:\n%s\nRegistration endpoint: %s (serve --registration=token or open)\n",
		t.Name, t.ID, raw, endpoint)
	return nil
}

type registrationTokenListCmd struct {
	JSON bool `name:"json" help:"Print one JSON object per token, one per line (JSON Lines)."`
}

func (l *registrationTokenListCmd) Run(ctx context.Context, e *env) error {
	return listTokensOf(ctx, e, registrationTokens, l.JSON)
}

// registrationTokens are the initial access tokens for list and revoke
// (tokens.go).
var registrationTokens = tokenKind{what: "initial access token", created: models.EventRegistrationTokenCreated, revoked: models.EventRegistrationTokenRevoked,
	list: func(ctx context.Context, db *models.DB) ([]models.APIToken, error) {
		return db.ListRegistrationTokens(ctx)
	},
	revoke: func(ctx context.Context, db *models.DB, id string) error { return db.RevokeRegistrationToken(ctx, id) }}

type registrationTokenRevokeCmd struct {
	ID string `arg:"" help:"Token ID (from registration token list)."`
}

func (r *registrationTokenRevokeCmd) Run(ctx context.Context, e *env) error {
	return revokeTokenOf(ctx, e, registrationTokens, r.ID)
}
