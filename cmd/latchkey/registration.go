package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
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
	_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventRegistrationTokenCreated, Success: true, ActorID: "cli",
		Detail: models.JSONMap{"token": t.ID, "name": t.Name}})
	// The token goes to stdout for the operator; the log gets only the facts.
	e.log.Info("registration token created", "token_id", t.ID, "name", t.Name)
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	endpoint := issuer + oidc.RegistrationEndpoint
	if a.JSON {
		return e.printJSON(map[string]any{"id": t.ID, "name": t.Name, "token": raw, "registration_endpoint": endpoint,
			"expires_at": registrationTokenJSON(t)["expires_at"]})
	}
	fmt.Fprintf(e.out, "Created initial access token %q (%s). It is shown only now:\n%s\nRegistration endpoint: %s (serve --registration=token or open)\n",
		t.Name, t.ID, raw, endpoint)
	return nil
}

type registrationTokenListCmd struct {
	JSON bool `name:"json" help:"Print one JSON object per token, one per line (JSON Lines)."`
}

func (l *registrationTokenListCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	ts, err := db.ListRegistrationTokens(ctx)
	if err != nil {
		return err
	}
	now := db.Now()
	if l.JSON {
		enc := json.NewEncoder(e.out)
		for i := range ts {
			m := registrationTokenJSON(&ts[i])
			m["state"] = tokenState(&ts[i], now)
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tCREATED\tEXPIRES\tLAST USED\tID")
	for i := range ts {
		j := registrationTokenJSON(&ts[i])
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ts[i].Name, tokenState(&ts[i], now), j["created_at"], orText(j["expires_at"], "never"),
			orText(j["last_used_at"], "never"), ts[i].ID)
	}
	return tw.Flush()
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

func orText(v any, def string) string {
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return def
}

// registrationTokenJSON is a token as the CLI lists it (never its hash).
func registrationTokenJSON(t *models.APIToken) map[string]any {
	m := map[string]any{"id": t.ID, "name": t.Name, "created_at": t.CreatedAt.UTC().Format(time.RFC3339)}
	for k, v := range map[string]*time.Time{"expires_at": t.ExpiresAt, "last_used_at": t.LastUsedAt, "revoked_at": t.RevokedAt} {
		if v != nil {
			m[k] = v.UTC().Format(time.RFC3339)
		}
	}
	return m
}

type registrationTokenRevokeCmd struct {
	ID string `arg:"" help:"Token ID (from registration token list)."`
}

func (r *registrationTokenRevokeCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	if err := db.RevokeRegistrationToken(ctx, r.ID); err != nil {
		return fmt.Errorf("revoke registration token %q (unknown or already revoked): %w", r.ID, err)
	}
	_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventRegistrationTokenRevoked, Success: true, ActorID: "cli",
		Detail: models.JSONMap{"token": r.ID}})
	fmt.Fprintf(e.out, "Revoked initial access token %s.\n", r.ID)
	return nil
}
