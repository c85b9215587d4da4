package admin

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// adminBase is embedded in every console page: the signed-in admin, the
// active section of the navigation, and a one-line notice.
type adminBase struct {
	web.Base
	Admin   *models.User
	Section string
	Notice  string
	Error   string
	// Warning is a standing problem of the installation shown on every
	// console page (Config.Warning).
	Warning string
}

func (s *Handlers) adminBase(c echo.Context, section string, scripts ...string) adminBase {
	// admin.js asks before destructive actions (data-confirm) and runs the
	// copy buttons, so every console page loads it.
	if !slices.Contains(scripts, "admin.js") {
		scripts = append(scripts, "admin.js")
	}
	return adminBase{Base: web.Base{Scripts: scripts}, Admin: currentAdmin(c), Section: section, Notice: notices[c.QueryParam("done")],
		Warning: s.cfg.Warning}
}

// notices are the messages shown after a redirect (?done=key); a fixed map
// so nothing from the URL is ever echoed.
var notices = map[string]string{ //nolint:gosec // G101: fixed notice texts keyed by ?done= (e.g. "tokens for this user were revoked"), no credential
	"user-saved": "The user was saved.", "user-disabled": "The user was disabled; their sessions and tokens were ended.",
	"user-enabled": "The user was enabled.", "user-deleted": "The user was deleted.",
	"passkey-revoked": "The passkey was revoked.", "passkey-unblocked": "The passkey was unblocked; its next sign-in sets a new sign count.", "session-ended": "The session was ended.",
	"sessions-ended": "All sessions of the user were ended.",
	"group-created":  "The group was created.", "group-saved": "The group was saved.", "group-deleted": "The group was deleted.",
	"member-added": "The member was added.", "member-removed": "The member was removed.",
	"client-saved": "The application was saved.", "client-deleted": "The application was deleted.",
	"keys-rotated":  "New signing keys were created; the previous keys stay published until their tokens expire.",
	"token-revoked": "The API token was revoked.", "scim-token-revoked": "The SCIM token was revoked; the directory using it can no longer provision users.", "branding-saved": "The branding was saved; other instances show it within a few seconds.",
	"app-revoked":                "The application's tokens for this user were revoked; it must ask the user to sign in again.",
	"registration-token-revoked": "The initial access token was revoked; the applications registered with it stay.",

	// mail.go
	"invitation-queued": "An invitation with a new setup link was queued for the user's email address; earlier links no longer work.",
}

// adminAudit records an admin change with the acting admin.
func (s *Handlers) adminAudit(c echo.Context, typ string, ev models.AuditEvent) {
	ev.Type, ev.Success = typ, true
	if a := currentAdmin(c); a != nil {
		ev.ActorID = a.ID
	} else if t, ok := c.Get(apiTokenKey).(*models.APIToken); ok {
		ev.ActorID = "api:" + t.ID
	}
	s.Audit(c, &ev)
}

// actorID names who makes a change: the console admin or the API token.
func actorID(c echo.Context) string {
	if a := currentAdmin(c); a != nil {
		return a.ID
	}
	if t, ok := c.Get(apiTokenKey).(*models.APIToken); ok {
		return "api:" + t.ID
	}
	return ""
}

// userMessage turns a models validation or conflict error into a message
// for the form, or returns "" for other errors.
func userMessage(err error) string {
	switch {
	case errors.Is(err, models.ErrInvalid), errors.Is(err, models.ErrConflict):
		msg := err.Error()
		for _, p := range []string{"invalid: ", "conflict: "} {
			if i := strings.LastIndex(msg, p); i >= 0 {
				msg = msg[i+len(p):]
			}
		}
		if errors.Is(err, models.ErrConflict) && !strings.Contains(msg, "taken") && !strings.Contains(msg, "exists") {
			return "This conflicts with an existing entry."
		}
		return strings.ToUpper(msg[:1]) + msg[1:] + "."
	}
	return ""
}

func atoiDefault(s string, d int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return d
	}
	return n
}

// splitList splits a textarea or comma list into trimmed, non-empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// formError is a message for the person filling in a form.
type formError string

func (e formError) Error() string { return string(e) }

// PageNames are the console's pages.
var PageNames = []string{
	"admin_overview", "admin_users", "admin_user_new", "admin_user", "admin_link", "admin_groups", "admin_group",
	"admin_clients", "admin_client", "admin_client_secret", "admin_keys", "admin_audit", "admin_tokens", "admin_branding",
	"admin_mail",
	"admin_scim_tokens", "admin_signup_links",
	"admin_registration_tokens",
}
