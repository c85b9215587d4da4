package idp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// BootstrapAdminUsername is the account created for the first admin.
const BootstrapAdminUsername = "admin"

// SetupLink is a one-time setup link just issued: the URL (a secret: show
// it to a person, never log it) and what may be logged about it.
type SetupLink struct {
	URL       string
	UserID    string
	Username  string
	ExpiresAt time.Time
}

// BootstrapAdmin makes sure an admin can get in on a fresh install. While no
// admin account has a passkey, it creates the "admin" account if needed
// and, when issue is set (there is a terminal to show it on), returns a new
// one-time setup link (earlier links stop working); without issue it
// returns the link with an empty URL, naming the account. Once an admin has
// a passkey it returns nil. It reads the admins only, so start-up does not
// grow with the number of users.
func BootstrapAdmin(ctx context.Context, db *models.DB, issuer string, cfg Config, issue bool) (*SetupLink, error) {
	ready, admin, err := db.AdminSignInState(ctx, BootstrapAdminUsername)
	if err != nil || ready {
		return nil, err
	}
	if admin == nil {
		admin = &models.User{Username: BootstrapAdminUsername, DisplayName: "Administrator", IsAdmin: true}
		if err := db.CreateUser(ctx, admin); err != nil && !errors.Is(err, models.ErrConflict) {
			return nil, fmt.Errorf("create first admin: %w", err)
		} else if err != nil {
			return nil, fmt.Errorf("a non-admin user named %q exists; create an admin with `latchkey users add --admin`", BootstrapAdminUsername)
		}
	}
	if !issue {
		return &SetupLink{UserID: admin.ID, Username: admin.Username}, nil
	}
	return IssueSetupLinkFor(ctx, db, issuer, admin, cfg.SetupLinkTTL, "bootstrap")
}

// IssueSetupLinkFor is IssueSetupLink returning what may be logged too.
func IssueSetupLinkFor(ctx context.Context, db *models.DB, issuer string, u *models.User, ttl time.Duration, actor string) (*SetupLink, error) {
	raw, st, err := db.CreateSetupToken(ctx, u.ID, ttl, actor)
	if err != nil {
		return nil, err
	}
	if err := db.Audit(ctx, &models.AuditEvent{Type: models.EventSetupLinkIssued, Success: true, UserID: u.ID, ActorID: actor,
		Detail: models.JSONMap{"setup_link": st.ID, "expires_at": st.ExpiresAt}}); err != nil {
		return nil, err
	}
	return &SetupLink{URL: strings.TrimRight(issuer, "/") + "/setup/" + raw, UserID: u.ID, Username: u.Username, ExpiresAt: st.ExpiresAt}, nil
}

// IssueSetupLink creates a one-time setup link for a user, audits it and
// returns the URL (the only place the token ever appears).
func IssueSetupLink(ctx context.Context, db *models.DB, issuer, userID string, ttl time.Duration, actor string) (string, error) {
	l, err := IssueSetupLinkFor(ctx, db, issuer, &models.User{ID: userID}, ttl, actor)
	if err != nil {
		return "", err
	}
	return l.URL, nil
}
