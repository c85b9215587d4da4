package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey-idp/latchkey/idp"
	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/mail"
)

type usersInviteCmd struct {
	Username string `arg:"" help:"Username."`
	JSON     bool   `name:"json" help:"Print one JSON object."`
}

// Run issues a new one-time setup link and queues it by email in the
// database's outbox: it needs neither the running server nor the SMTP
// server, and a running server (with --smtp-url) sends it within seconds.
// The link is never printed: it is only in the message.
func (s *usersInviteCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	u, err := db.UserByUsername(ctx, s.Username)
	if err != nil {
		return fmt.Errorf("no user %q: %w", s.Username, err)
	}
	if u.Email == "" {
		return fmt.Errorf("user %s has no email address, so no invitation was sent; give the user an address, or print a link with `latchkey users setup-link %s`",
			u.Username, u.Username)
	}
	sealer, _, err := e.sealer(ctx, db)
	if err != nil {
		return err
	}
	m, err := mail.New(mail.Config{}, sealer)
	if err != nil {
		return err
	}
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	inv, err := idp.Invite(ctx, db, m, issuer, u, e.cli.SetupLinkTTL, "cli")
	if errors.Is(err, mail.ErrInvalid) {
		return fmt.Errorf("user %s: %w; nothing was queued", u.Username, err)
	}
	if err != nil {
		return err
	}
	e.log.Info("invitation queued", "user", u.Username, "user_id", u.ID, "mail", inv.MailID,
		"expires_at", inv.ExpiresAt.UTC().Format(time.RFC3339))
	if s.JSON {
		return e.printJSON(map[string]any{"id": u.ID, "username": u.Username, "email": u.Email, "mail_id": inv.MailID,
			"status": "queued", "expires_at": inv.ExpiresAt.UTC().Format(time.RFC3339)})
	}
	fmt.Fprintf(e.out, "Invitation for %s queued to %s (valid %s; earlier setup links no longer work).\n"+
		"A running `latchkey serve` with --smtp-url sends it; undeliverable mail shows in the admin console.\n",
		u.Username, u.Email, e.cli.SetupLinkTTL)
	return nil
}
