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

// signupLinksCmd manages sign-up links, the way people sign up under
// `serve --signup=invite` (idp/signup.go).
type signupLinksCmd struct {
	Add    signupLinksAddCmd    `cmd:"" help:"Create a sign-up link and print it once (only its hash is stored)."`
	List   signupLinksListCmd   `cmd:"" help:"List sign-up links, newest first (never the links themselves)."`
	Revoke signupLinksRevokeCmd `cmd:"" help:"Revoke a sign-up link at once."`
}

type signupLinksAddCmd struct {
	Uses    int           `help:"How many people may sign up with it." default:"1"`
	Expires time.Duration `help:"How long it works (1m to 8784h)." default:"72h"`
	JSON    bool          `name:"json" help:"Print one JSON object."`
}

func (a *signupLinksAddCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	raw, l, err := db.CreateSignupLink(ctx, a.Uses, a.Expires, "cli")
	if err != nil {
		return err
	}
	if err := db.Audit(ctx, &models.AuditEvent{Type: models.EventSignupLinkAdded, Success: true, ActorID: "cli",
		Detail: models.JSONMap{"signup_link": l.ID, "max_uses": l.MaxUses, "expires_at": l.ExpiresAt}}); err != nil {
		return err
	}
	e.log.Info("sign-up link created", "signup_link", l.ID, "max_uses", l.MaxUses, "expires_at", l.ExpiresAt)
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	link := issuer + "/signup/" + raw
	if a.JSON {
		return e.printJSON(map[string]any{"id": l.ID, "url": link, "max_uses": l.MaxUses, "expires_at": l.ExpiresAt})
	}
	fmt.Fprintf(e.out, "Sign-up link %s for %d sign-up(s) until %s. It is shown only now:\n%s\n", l.ID, l.MaxUses,
		l.ExpiresAt.UTC().Format(time.RFC3339), link)
	return nil
}

type signupLinksListCmd struct {
	Limit int  `help:"At most this many links." default:"100"`
	JSON  bool `name:"json" help:"Print one JSON object per link, one per line (JSON Lines)."`
}

func (l *signupLinksListCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	if l.Limit < 1 || l.Limit > 1000 {
		return fmt.Errorf("--limit must be from 1 to 1000")
	}
	links, err := db.SignupLinks(ctx, l.Limit)
	if err != nil {
		return err
	}
	now := db.Now()
	if l.JSON {
		enc := json.NewEncoder(e.out)
		for _, x := range links {
			if err := enc.Encode(map[string]any{"id": x.ID, "uses": x.Uses, "max_uses": x.MaxUses, "state": x.State(now),
				"created_at": x.CreatedAt, "expires_at": x.ExpiresAt, "created_by": x.CreatedBy}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tUSES\tEXPIRES")
	for _, x := range links {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\n", x.ID, x.State(now), x.Uses, x.MaxUses, x.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

type signupLinksRevokeCmd struct {
	ID string `arg:"" help:"The link's ID (from list)."`
}

func (r *signupLinksRevokeCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	if err := db.RevokeSignupLink(ctx, r.ID); err != nil {
		return err
	}
	if err := db.Audit(ctx, &models.AuditEvent{Type: models.EventSignupLinkRevoked, Success: true, ActorID: "cli",
		Detail: models.JSONMap{"signup_link": r.ID}}); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "Revoked sign-up link %s\n", r.ID)
	return nil
}
