package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
)

// apiTokenCmd creates admin API tokens (/api/v1 on the internal listener)
// from the command line, for scripts and load tools that have no console
// session; the console's API tokens page lists and revokes them.
type apiTokenCmd struct {
	Add apiTokenAddCmd `cmd:"" help:"Create an admin API token and print it once (only its hash is stored)."`
}

type apiTokenAddCmd struct {
	Name    string        `help:"What the token is for (shown on the console's API tokens page)." required:""`
	Expires time.Duration `help:"Lifetime, for example 24h (0: no expiry, like the console's empty expiry)." default:"0"`
	JSON    bool          `name:"json" help:"Print one JSON object."`
}

// apiTokens are the admin API's tokens (only created from the CLI; the
// console lists and revokes them).
var apiTokens = tokenKind{what: "API token", created: models.EventAPITokenCreated}

func (a *apiTokenAddCmd) Run(ctx context.Context, e *env) (err error) {
	if a.Expires < 0 {
		return errors.New("--expires must not be negative")
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	var exp *time.Time
	if a.Expires > 0 {
		t := time.Now().Add(a.Expires)
		exp = &t
	}
	raw, t, err := db.CreateAPIToken(ctx, a.Name, "cli", exp)
	if err != nil {
		return err
	}
	apiTokens.recordCreated(ctx, e, db, t)
	if a.JSON {
		out := map[string]any{"id": t.ID, "name": t.Name, "token": raw}
		if exp != nil {
			out["expires_at"] = exp.UTC().Format(time.RFC3339)
		}
		return e.printJSON(out)
	}
	fmt.Fprintf(e.out, "Created API token %q (%s). It is shown only now:\n%s\n", t.Name, t.ID, raw)
	return nil
}
