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

// BootstrapAdmin makes sure an admin can get in on a fresh install. While no
// admin account has a passkey, it creates the "admin" account if needed and
// returns a new one-time setup URL (earlier links stop working). Once an
// admin has a passkey it returns "". It reads the admins only, so start-up
// does not grow with the number of users.
func BootstrapAdmin(ctx context.Context, db *models.DB, issuer string, cfg Config) (string, error) {
	ready, admin, err := db.AdminSignInState(ctx, BootstrapAdminUsername)
	if err != nil || ready {
		return "", err
	}
	if admin == nil {
		admin = &models.User{Username: BootstrapAdminUsername, DisplayName: "Administrator", IsAdmin: true}
		if err := db.CreateUser(ctx, admin); err != nil && !errors.Is(err, models.ErrConflict) {
			return "", fmt.Errorf("create first admin: %w", err)
		} else if err != nil {
			return "", fmt.Errorf("a non-admin user named %q exists; create an admin with `latchkey users add --admin`", BootstrapAdminUsername)
		}
	}
	return IssueSetupLink(ctx, db, issuer, admin.ID, cfg.SetupLinkTTL, "bootstrap")
}

// IssueSetupLink creates a one-time setup link for a user, audits it and
// returns the URL (the only place the token ever appears).
func IssueSetupLink(ctx context.Context, db *models.DB, issuer, userID string, ttl time.Duration, actor string) (string, error) {
	raw, st, err := db.CreateSetupToken(ctx, userID, ttl, actor)
	if err != nil {
		return "", err
	}
	if err := db.Audit(ctx, &models.AuditEvent{Type: models.EventSetupLinkIssued, Success: true, UserID: userID, ActorID: actor,
		Detail: models.JSONMap{"setup_link": st.ID, "expires_at": st.ExpiresAt}}); err != nil {
		return "", err
	}
	return strings.TrimRight(issuer, "/") + "/setup/" + raw, nil
}
