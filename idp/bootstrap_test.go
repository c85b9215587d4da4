package idp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/models"
)

// BootstrapAdmin on a fresh install creates "admin" and issues a setup
// link, a new one on every start until an admin has a passkey, then none;
// a non-admin already named "admin" is a clear error.
func TestBootstrapAdmin(t *testing.T) {
	ctx := context.Background()
	db, _ := openTestDB(t, dbtest.DSN(t), time.Now)
	cfg := testConfig(t, "http://localhost:1", time.Now)
	cfg.Defaults()

	if l, err := BootstrapAdmin(ctx, db, cfg.Issuer, cfg, false); err != nil || l == nil || l.URL != "" || l.Username != BootstrapAdminUsername {
		t.Fatalf("first start without a terminal: %+v, %v; want the account and no link", l, err)
	}
	l, err := BootstrapAdmin(ctx, db, cfg.Issuer, cfg, true)
	link := ""
	if l != nil {
		link = l.URL
	}
	if err != nil || !strings.HasPrefix(link, "http://localhost:1/setup/") || l.ExpiresAt.IsZero() {
		t.Fatalf("first start: %q, %v; want a setup link", link, err)
	}
	admin, err := db.UserByUsername(ctx, BootstrapAdminUsername)
	if err != nil || !admin.IsAdmin {
		t.Fatalf("the first admin: %+v, %v", admin, err)
	}
	again, err := BootstrapAdmin(ctx, db, cfg.Issuer, cfg, true)
	if err != nil || again == nil || again.URL == "" || again.URL == link {
		t.Fatalf("restart without a passkey: %q, %v; want a new link", again, err)
	}
	if _, err := db.SetupTokenByRaw(ctx, strings.TrimPrefix(link, cfg.Issuer+"/setup/")); err == nil {
		t.Fatal("the first link still works after a new one was issued")
	}
	cred := &models.Credential{UserID: admin.ID, CredentialID: []byte("admin-key"), PublicKey: []byte{1}, CreatedAt: time.Now()}
	if err := db.AddCredentialWithSetupToken(ctx, cred, ""); err != nil {
		t.Fatal(err)
	}
	if link, err := BootstrapAdmin(ctx, db, cfg.Issuer, cfg, true); err != nil || link != nil {
		t.Fatalf("an admin has a passkey: %q, %v; want no link", link, err)
	}

	db2, _ := openTestDB(t, dbtest.DSN(t), time.Now)
	if err := db2.CreateUser(ctx, &models.User{Username: BootstrapAdminUsername}); err != nil {
		t.Fatal(err)
	}
	if _, err := BootstrapAdmin(ctx, db2, cfg.Issuer, cfg, true); err == nil || !strings.Contains(err.Error(), "users add --admin") {
		t.Fatalf("a non-admin named admin: %v; want the error that says what to do", err)
	}
}
