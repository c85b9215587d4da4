package main

import (
	"context"
	"fmt"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
)

// scimCmd manages the bearer tokens of the SCIM service provider
// (/scim/v2 on the public listener, idp/scim).
type scimCmd struct {
	Token scimTokenCmd `cmd:"" help:"Manage SCIM bearer tokens."`
}

type scimTokenCmd struct {
	Add    scimTokenAddCmd    `cmd:"" help:"Create a SCIM token and print it once (only its hash is stored)."`
	List   scimTokenListCmd   `cmd:"" help:"List SCIM tokens (never the tokens themselves)."`
	Revoke scimTokenRevokeCmd `cmd:"" help:"Revoke a SCIM token at once."`
}

type scimTokenAddCmd struct {
	Name string `help:"Name of the directory that uses it (audit events name their actor scim:NAME)." required:""`
	JSON bool   `name:"json" help:"Print one JSON object."`
}

func (a *scimTokenAddCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	raw, t, err := db.CreateSCIMToken(ctx, a.Name, "cli")
	if err != nil {
		return err
	}
	scimTokens.recordCreated(ctx, e, db, t)
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	base := issuer + "/scim/v2"
	if a.JSON {
		return e.printJSON(map[string]any{"id": t.ID, "name": t.Name, "token": raw, "scim_base_url": base})
	}
	fmt.Fprintf(e.out, "Created SCIM token %q (%s). It is shown only now:\n%s\nSCIM base URL: %s\n", t.Name, t.ID, raw, base)
	return nil
}

type scimTokenListCmd struct {
	JSON bool `name:"json" help:"Print one JSON object per token, one per line (JSON Lines)."`
}

func (l *scimTokenListCmd) Run(ctx context.Context, e *env) error {
	return listTokensOf(ctx, e, scimTokens, l.JSON)
}

// scimTokens are the SCIM tokens for list and revoke (tokens.go).
var scimTokens = tokenKind{what: "SCIM token", created: models.EventSCIMTokenCreated, revoked: models.EventSCIMTokenRevoked,
	list:   func(ctx context.Context, db *models.DB) ([]models.APIToken, error) { return db.ListSCIMTokens(ctx) },
	revoke: func(ctx context.Context, db *models.DB, id string) error { return db.RevokeSCIMToken(ctx, id) }}

type scimTokenRevokeCmd struct {
	ID string `arg:"" help:"Token ID (from scim token list)."`
}

func (r *scimTokenRevokeCmd) Run(ctx context.Context, e *env) error {
	return revokeTokenOf(ctx, e, scimTokens, r.ID)
}
