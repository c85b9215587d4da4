package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/latchkey-idp/latchkey/internal/command"

	"github.com/latchkey-idp/latchkey/idp"
	"github.com/latchkey-idp/latchkey/models"
)

type usersCmd struct {
	Add       usersAddCmd       `cmd:"" help:"Create a user and print a one-time setup URL."`
	SetupLink usersSetupLinkCmd `cmd:"" name:"setup-link" help:"Issue a new one-time setup URL (recovery); earlier links stop working."`
	List      usersListCmd      `cmd:"" help:"List users."`
}

type usersAddCmd struct {
	Username string   `help:"Username (letters, digits, . _ - @)." required:""`
	Email    string   `help:"Email address."`
	Name     string   `help:"Display name."`
	Admin    bool     `help:"Give the admin role."`
	Group    []string `help:"Group membership (repeatable)."`
	JSON     bool     `name:"json" help:"Print one JSON object."`
}

func (a *usersAddCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	u := &models.User{Username: a.Username, Email: a.Email, DisplayName: a.Name, IsAdmin: a.Admin}
	if err := db.CreateUser(ctx, u); err != nil {
		return err
	}
	if len(a.Group) > 0 {
		if err := db.SetUserGroups(ctx, u.ID, a.Group); err != nil {
			return err
		}
	}
	_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventUserCreated, Success: true, UserID: u.ID, ActorID: "cli",
		Detail: models.JSONMap{"username": u.Username, "admin": u.IsAdmin}})
	link, err := idp.IssueSetupLink(ctx, db, e.cli.Issuer, u.ID, e.cli.SetupLinkTTL, "cli")
	if err != nil {
		return err
	}
	if a.JSON {
		return e.printJSON(map[string]any{"id": u.ID, "username": u.Username, "email": u.Email, "admin": u.IsAdmin,
			"setup_url": link, "setup_url_expires_in": e.cli.SetupLinkTTL.String()})
	}
	fmt.Fprintf(e.out, "Created user %s (%s).\nOne-time setup link (valid %s):\n%s\n", u.Username, u.ID, e.cli.SetupLinkTTL, link)
	return nil
}

type usersSetupLinkCmd struct {
	Username string `arg:"" help:"Username."`
	JSON     bool   `name:"json" help:"Print one JSON object."`
}

func (s *usersSetupLinkCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	u, err := db.UserByUsername(ctx, s.Username)
	if err != nil {
		return fmt.Errorf("no user %q: %w", s.Username, err)
	}
	link, err := idp.IssueSetupLink(ctx, db, e.cli.Issuer, u.ID, e.cli.SetupLinkTTL, "cli")
	if err != nil {
		return err
	}
	if s.JSON {
		return e.printJSON(map[string]any{"id": u.ID, "username": u.Username, "setup_url": link, "setup_url_expires_in": e.cli.SetupLinkTTL.String()})
	}
	fmt.Fprintf(e.out, "One-time setup link for %s (valid %s; earlier links no longer work):\n%s\n", u.Username, e.cli.SetupLinkTTL, link)
	return nil
}

type usersListCmd struct {
	JSON bool `name:"json" help:"Print one JSON object."`
}

func (l *usersListCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	users, err := db.ListUsers(ctx)
	if err != nil {
		return err
	}
	type row struct {
		ID       string   `json:"id"`
		Username string   `json:"username"`
		Email    string   `json:"email"`
		Admin    bool     `json:"admin"`
		Disabled bool     `json:"disabled"`
		Groups   []string `json:"groups"`
		Passkeys int      `json:"passkeys"`
	}
	rows := make([]row, 0, len(users))
	for _, u := range users {
		creds, err := db.CredentialsByUser(ctx, u.ID)
		if err != nil {
			return err
		}
		rows = append(rows, row{u.ID, u.Username, u.Email, u.IsAdmin, u.Disabled, u.GroupNames(), len(creds)})
	}
	if l.JSON {
		return e.printJSON(map[string]any{"users": rows})
	}
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tEMAIL\tADMIN\tDISABLED\tPASSKEYS\tID")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%d\t%s\n", r.Username, r.Email, r.Admin, r.Disabled, r.Passkeys, r.ID)
	}
	return tw.Flush()
}
