package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/latchkey-idp/latchkey/internal/command"

	"github.com/latchkey-idp/latchkey/idp"
	"github.com/latchkey-idp/latchkey/models"
)

type usersCmd struct {
	Add       usersAddCmd       `cmd:"" help:"Create a user and print a one-time setup URL."`
	SetupLink usersSetupLinkCmd `cmd:"" name:"setup-link" help:"Issue a new one-time setup URL (recovery); earlier links stop working."`
	Update    usersUpdateCmd    `cmd:"" help:"Change a user's email, name, email verification, groups or status (users_update.go)."`
	Invite    usersInviteCmd    `cmd:"" help:"Email a new one-time setup link (queued in the database; the server sends it). Earlier links stop working."`
	List      usersListCmd      `cmd:"" help:"List users."`
	Import    usersImportCmd    `cmd:"" help:"Import users from a JSON Lines or CSV file, in batches (no passkeys: send setup links)."`
}

type usersAddCmd struct {
	Username string   `help:"Username (letters, digits, . _ - @)." required:""`
	Email    string   `help:"Email address."`
	Verified bool     `name:"email-verified" help:"The email address is known to be the user's (the email_verified claim)."`
	Name     string   `help:"Display name."`
	Admin    bool     `help:"Give the admin role."`
	Group    []string `help:"Group membership (repeatable)."`
	Locale   string   `name:"locale" help:"Language of the user's pages and emails: en, de or fr (default: the browser's choice)."`
	JSON     bool     `name:"json" help:"Print one JSON object."`
}

func (a *usersAddCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	if a.Verified && a.Email == "" {
		return errors.New("--email-verified needs --email")
	}
	if err := checkLocale(&a.Locale); err != nil {
		return err
	}
	u := &models.User{Username: a.Username, Email: a.Email, EmailVerified: a.Verified, DisplayName: a.Name, IsAdmin: a.Admin, Locale: a.Locale}
	if err := db.CreateUser(ctx, u); err != nil {
		return err
	}
	if len(a.Group) > 0 {
		if err := db.SetUserGroups(ctx, u.ID, a.Group); err != nil {
			return err
		}
	}
	_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventUserCreated, Success: true, UserID: u.ID, ActorID: "cli",
		Detail: models.JSONMap{"username": u.Username, "admin": u.IsAdmin, "email_verified": u.EmailVerified}})
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	issued, err := idp.IssueSetupLinkFor(ctx, db, issuer, u, e.cli.SetupLinkTTL, "cli")
	if err != nil {
		return err
	}
	link := issued.URL // printed on stdout for the operator; the log gets only the facts
	e.log.Info("one-time setup link issued", "user", u.Username, "user_id", u.ID, "expires_at", issued.ExpiresAt.UTC().Format(time.RFC3339))
	if a.JSON {
		return e.printJSON(map[string]any{"id": u.ID, "username": u.Username, "email": u.Email, "email_verified": u.EmailVerified, "admin": u.IsAdmin,
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
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	issued, err := idp.IssueSetupLinkFor(ctx, db, issuer, u, e.cli.SetupLinkTTL, "cli")
	if err != nil {
		return err
	}
	link := issued.URL // printed on stdout for the operator; the log gets only the facts
	e.log.Info("one-time setup link issued", "user", u.Username, "user_id", u.ID, "expires_at", issued.ExpiresAt.UTC().Format(time.RFC3339))
	if s.JSON {
		return e.printJSON(map[string]any{"id": u.ID, "username": u.Username, "setup_url": link, "setup_url_expires_in": e.cli.SetupLinkTTL.String()})
	}
	fmt.Fprintf(e.out, "One-time setup link for %s (valid %s; earlier links no longer work):\n%s\n", u.Username, e.cli.SetupLinkTTL, link)
	return nil
}

type usersListCmd struct {
	Limit  int    `name:"limit" default:"100" help:"Users per page (1 to 1000)."`
	After  string `name:"after" help:"Start after this username (the cursor printed at the end of a full page)."`
	Search string `name:"search" help:"Only users whose username, email or name starts with this (case-insensitive)."`
	JSON   bool   `name:"json" help:"Print one JSON object per user, one per line (JSON Lines)."`
}

func (l *usersListCmd) Run(ctx context.Context, e *env) (err error) {
	if l.Limit < 1 || l.Limit > models.MaxListLimit {
		return fmt.Errorf("--limit must be 1 to %d", models.MaxListLimit)
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	users, err := db.ListUsersPage(ctx, l.After, l.Search, l.Limit)
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
	if l.JSON {
		enc := json.NewEncoder(e.out)
		for _, u := range users {
			if err := enc.Encode(row{u.ID, u.Username, u.Email, u.IsAdmin, u.Disabled, u.GroupNames(), u.Passkeys}); err != nil {
				return err
			}
		}
	} else {
		tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tEMAIL\tADMIN\tDISABLED\tPASSKEYS\tID")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%d\t%s\n", u.Username, u.Email, u.IsAdmin, u.Disabled, u.Passkeys, u.ID)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(users) == l.Limit {
		// A full page: there may be more. The cursor goes to stderr, so
		// stdout stays one row per user.
		fmt.Fprintf(e.errOut, "next page: --after %s\n", users[len(users)-1].Username)
	}
	return nil
}
