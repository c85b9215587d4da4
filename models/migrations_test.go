package models

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// Every Postgres migration's Up section is a single goose statement block,
// so that goose sends it in one round trip (see Migrate).
func TestPostgresMigrationsAreOneBlock(t *testing.T) {
	files, err := fs.Glob(migrationsFS, "migrations/postgres/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Postgres migrations: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(migrationsFS, f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		up, _, ok := strings.Cut(s, "-- +goose Down")
		if !ok || !strings.HasPrefix(up, "-- +goose Up\n-- +goose StatementBegin\n") ||
			!strings.HasSuffix(strings.TrimSpace(up), "-- +goose StatementEnd") || strings.Count(up, "StatementBegin") != 1 {
			t.Errorf("%s: the Up section is not one StatementBegin/StatementEnd block", f)
		}
	}
}

// TestGrantsMigration: migration 00010 carries the live refresh tokens
// over as grants (by their hash, so their holders stay signed in) and
// drops rotated and revoked ones and every access token row.
func TestGrantsMigration(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	db, err := Open(ctx, Options{DSN: dbtest.DSN(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(t, db)
	p, err := db.migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	now, later := clock.Now(), clock.Now().Add(time.Hour)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.rawExec(ctx, db.rawPool(true), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("INSERT INTO users (id, webauthn_id, username, email, email_verified, display_name, disabled, is_admin, custom_claims, created_at, updated_at) VALUES ('u', ?, 'una', '', false, '', false, false, '{}', ?, ?)", []byte("h"), now, now)
	exec("INSERT INTO clients (id, secret_hash, name, created_at, updated_at) VALUES ('c', '', 'app', ?, ?)", now, now)
	for _, rt := range []struct {
		id, raw          string
		rotated, revoked any
	}{{"live", "raw-live", nil, nil}, {"rotated", "raw-rotated", now, nil}, {"revoked", "raw-revoked", nil, now}} {
		exec("INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, user_id, scopes, audience, amr, acr, auth_time, created_at, expires_at, rotated_at, revoked_at)"+
			" VALUES (?, ?, ?, 'c', 'u', '[\"openid\",\"offline_access\"]', '[\"c\"]', '[\"hwk\"]', 'phr', ?, ?, ?, ?, ?)",
			rt.id, HashToken(rt.raw), "fam-"+rt.id, now, now, later, rt.rotated, rt.revoked)
	}
	exec("INSERT INTO access_tokens (id, client_id, subject, user_id, created_at, expires_at) VALUES ('a', 'c', 'u', 'u', ?, ?)", now, later)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	g, u, err := db.LiveLegacyGrant(ctx, HashToken("raw-live"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != "fam-live" || g.Generation != 0 || !g.Scopes.Contains("offline_access") || g.ACR != "phr" || !g.ExpiresAt.Equal(later) || u.ID != "u" {
		t.Fatalf("migrated grant %+v", g)
	}
	var n int64
	if err := db.gorm.Table("grants").Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("%d grants (%v), want only the live refresh token's", n, err)
	}
	for _, gone := range []string{"refresh_tokens", "access_tokens"} {
		if db.gorm.Migrator().HasTable(gone) {
			t.Errorf("table %s still exists", gone)
		}
	}
}
