package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
)

// usersUpdateCmd changes what its flags name and nothing else, in one
// transaction (models.EditUser), and writes one audit event listing the
// fields that changed.
type usersUpdateCmd struct {
	Username     string   `arg:"" help:"Username of the user to change."`
	Email        *string  `help:"New email address (\"\" removes it)."`
	Name         *string  `help:"New display name (\"\" removes it)."`
	Verified     *bool    `name:"email-verified" negatable:"" help:"Mark the email address verified (--no-email-verified: not verified)."`
	Disabled     *bool    `name:"disabled" negatable:"enabled" help:"Disable the user, ending their sessions and revoking their tokens at once (--enabled: enable)."`
	Group        []string `help:"Group the user belongs to (repeatable): replaces every membership. The groups must exist unless --create-groups."`
	NoGroups     bool     `name:"no-groups" help:"Remove the user from every group."`
	CreateGroups bool     `name:"create-groups" help:"Create the groups named by --group that do not exist."`
	Locale       *string  `name:"locale" help:"Language of the user's pages and emails: en, de or fr (\"\": the browser's choice)."`
	JSON         bool     `name:"json" help:"Print one JSON object."`
}

func (u *usersUpdateCmd) Run(ctx context.Context, e *env) (err error) {
	edit := models.UserEdit{Email: u.Email, DisplayName: u.Name, EmailVerified: u.Verified, Disabled: u.Disabled, CreateGroups: u.CreateGroups, Locale: u.Locale}
	if err := checkLocale(u.Locale); err != nil {
		return err
	}
	switch {
	case len(u.Group) > 0 && u.NoGroups:
		return errors.New("--group and --no-groups cannot be combined")
	case len(u.Group) > 0:
		edit.Groups = &u.Group
	case u.NoGroups:
		edit.Groups = &[]string{}
	case u.CreateGroups:
		return errors.New("--create-groups needs --group")
	}
	if edit.Email == nil && edit.DisplayName == nil && edit.EmailVerified == nil && edit.Disabled == nil && edit.Groups == nil && edit.Locale == nil {
		return errors.New("nothing to change: give --email, --name, --email-verified, --no-email-verified, --disabled, --enabled, --group, --no-groups or --locale")
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	user, err := db.UserByUsername(ctx, u.Username)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("no user %q", u.Username)
	} else if err != nil {
		return err
	}
	changed, err := db.EditUser(ctx, user.ID, edit)
	if errors.Is(err, models.ErrInvalid) || errors.Is(err, models.ErrConflict) {
		return errors.New(userError(err))
	} else if err != nil {
		return err
	}
	if len(changed) > 0 {
		_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventUserUpdated, Success: true, UserID: user.ID, ActorID: "cli",
			Detail: models.JSONMap{"username": user.Username, "changed": changed}})
	}
	if user, err = db.UserByID(ctx, user.ID); err != nil {
		return err
	}
	if u.JSON {
		return e.printJSON(map[string]any{"id": user.ID, "username": user.Username, "email": user.Email, "email_verified": user.EmailVerified,
			"name": user.DisplayName, "disabled": user.Disabled, "groups": nonNilList(user.GroupNames()), "locale": user.Locale, "changed": nonNilList(changed)})
	}
	if len(changed) == 0 {
		fmt.Fprintf(e.out, "User %s unchanged.\n", user.Username)
		return nil
	}
	fmt.Fprintf(e.out, "Updated user %s: %s.\n", user.Username, strings.Join(changed, ", "))
	return nil
}

// checkLocale refuses a language Latchkey does not ship.
func checkLocale(l *string) error {
	if l == nil || *l == "" || i18n.Supported(*l) {
		return nil
	}
	tags := make([]string, len(i18n.Languages))
	for i, x := range i18n.Languages {
		tags[i] = x.Tag
	}
	return fmt.Errorf("--locale %q is not a shipped language: use one of %s, or \"\" for the browser's choice", *l, strings.Join(tags, ", "))
}

// userError is a models validation error without its "invalid: " or
// "conflict: " prefix.
func userError(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{models.ErrInvalid, models.ErrConflict} {
		if i := strings.Index(msg, sentinel.Error()+": "); i >= 0 {
			msg = msg[i+len(sentinel.Error())+2:]
		}
	}
	return msg
}
