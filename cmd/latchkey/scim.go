package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

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
	_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventSCIMTokenCreated, Success: true, ActorID: "cli",
		Detail: models.JSONMap{"token": t.ID, "name": t.Name}})
	// The token goes to stdout for the operator; the log gets only the facts.
	e.log.Info("SCIM token created", "token_id", t.ID, "name", t.Name)
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

func (l *scimTokenListCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	ts, err := db.ListSCIMTokens(ctx)
	if err != nil {
		return err
	}
	if l.JSON {
		enc := json.NewEncoder(e.out)
		for _, t := range ts {
			if err := enc.Encode(scimTokenJSON(&t)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tCREATED\tLAST USED\tID")
	for _, t := range ts {
		j := scimTokenJSON(&t)
		last, _ := j["last_used_at"].(string)
		if last == "" {
			last = "never"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, j["state"], j["created_at"], last, t.ID)
	}
	return tw.Flush()
}

// scimTokenJSON is a token as the CLI lists it (never its hash).
func scimTokenJSON(t *models.APIToken) map[string]any {
	state := "active"
	if t.RevokedAt != nil {
		state = "revoked"
	}
	m := map[string]any{"id": t.ID, "name": t.Name, "state": state, "created_at": t.CreatedAt.UTC().Format(time.RFC3339)}
	if t.LastUsedAt != nil {
		m["last_used_at"] = t.LastUsedAt.UTC().Format(time.RFC3339)
	}
	if t.RevokedAt != nil {
		m["revoked_at"] = t.RevokedAt.UTC().Format(time.RFC3339)
	}
	return m
}

type scimTokenRevokeCmd struct {
	ID string `arg:"" help:"Token ID (from scim token list)."`
}

func (r *scimTokenRevokeCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	if err := db.RevokeSCIMToken(ctx, r.ID); err != nil {
		return fmt.Errorf("revoke SCIM token %q (unknown or already revoked): %w", r.ID, err)
	}
	_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventSCIMTokenRevoked, Success: true, ActorID: "cli",
		Detail: models.JSONMap{"token": r.ID}})
	fmt.Fprintf(e.out, "Revoked SCIM token %s.\n", r.ID)
	return nil
}
