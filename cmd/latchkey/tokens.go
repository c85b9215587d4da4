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

// The bearer tokens an admin hands out from the command line (SCIM tokens,
// initial access tokens of client registration, API tokens) are rows of
// api_tokens of different kinds: they are listed, printed and revoked the
// same way. Only a token's hash is stored; nothing here prints it.

// tokenJSON is a token as the CLI lists it: never the token nor its hash.
func tokenJSON(t *models.APIToken, now time.Time) map[string]any {
	m := map[string]any{"id": t.ID, "name": t.Name, "state": tokenState(t, now), "created_at": t.CreatedAt.UTC().Format(time.RFC3339)}
	for k, v := range map[string]*time.Time{"expires_at": t.ExpiresAt, "last_used_at": t.LastUsedAt, "revoked_at": t.RevokedAt} {
		if v != nil {
			m[k] = v.UTC().Format(time.RFC3339)
		}
	}
	return m
}

// tokenState is "active", "expired" or "revoked".
func tokenState(t *models.APIToken, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case !t.Active(now):
		return "expired"
	}
	return "active"
}

// printTokens lists ts as a table, or as JSON Lines (one object a token).
func printTokens(e *env, ts []models.APIToken, now time.Time, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.out)
		for i := range ts {
			if err := enc.Encode(tokenJSON(&ts[i], now)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tCREATED\tEXPIRES\tLAST USED\tID")
	for i := range ts {
		j := tokenJSON(&ts[i], now)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ts[i].Name, j["state"], j["created_at"], orText(j["expires_at"], "never"),
			orText(j["last_used_at"], "never"), ts[i].ID)
	}
	return tw.Flush()
}

func orText(v any, def string) string {
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return def
}

// tokenKind is what differs between the kinds of token in add, list and
// revoke.
type tokenKind struct {
	what   string // "SCIM token", "initial access token"
	list   func(context.Context, *models.DB) ([]models.APIToken, error)
	revoke func(context.Context, *models.DB, string) error
	// created and revoked are the audit events of a creation and a
	// revocation.
	created, revoked string
}

// recordCreated audits and logs the creation of t by the CLI. The token
// itself goes to stdout for the operator; the log gets only the facts.
func (k tokenKind) recordCreated(ctx context.Context, e *env, db *models.DB, t *models.APIToken) {
	_ = db.Audit(ctx, &models.AuditEvent{Type: k.created, Success: true, ActorID: "cli",
		Detail: models.JSONMap{"token": t.ID, "name": t.Name}})
	e.log.Info(k.what+" created", "token_id", t.ID, "name", t.Name)
}

// listTokensOf runs `… token list` for k.
func listTokensOf(ctx context.Context, e *env, k tokenKind, asJSON bool) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	ts, err := k.list(ctx, db)
	if err != nil {
		return err
	}
	return printTokens(e, ts, db.Now(), asJSON)
}

// revokeTokenOf runs `… token revoke ID` for k: audited, refused for an
// unknown or already revoked token.
func revokeTokenOf(ctx context.Context, e *env, k tokenKind, id string) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	if err := k.revoke(ctx, db, id); err != nil {
		return fmt.Errorf("revoke %s %q (unknown or already revoked): %w", k.what, id, err)
	}
	_ = db.Audit(ctx, &models.AuditEvent{Type: k.revoked, Success: true, ActorID: "cli", Detail: models.JSONMap{"token": id}})
	fmt.Fprintf(e.out, "Revoked %s %s.\n", k.what, id)
	return nil
}
