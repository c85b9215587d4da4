package idp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// TestStolenDatabaseIsWorthless runs the flows that hand out secrets, then
// reads the raw database and proves that none of them is stored in a
// usable form, that no private key is stored unencrypted, and that the
// signing keys are useless without the master key.
func TestStolenDatabaseIsWorthless(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	_, setup := app.newUser("ned", true)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, redirect)
	authURL, f := r.authURL()
	cb := b.signIn(authURL)
	tok, _ := r.exchange(cb, f)
	tok2, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	issued := map[string]string{
		"client secret": secret, "setup token": setup[strings.LastIndex(setup, "/")+1:],
		"refresh token": tok.RefreshToken, "access token": tok.AccessToken, "authorization code": cb.Query().Get("code"),
		"second access token": tok2.AccessToken, "rotated refresh token": tok2.RefreshToken,
	}
	for _, ck := range b.client.Jar.Cookies(mustURL(t, app.issuer)) {
		if ck.Name == app.srv.sessions.CookieName() {
			issued["session cookie"] = ck.Value
		}
	}
	// Admin API tokens and admin console sessions (issue 3).
	rawAPI, _, err := app.db.CreateAPIToken(ctx, "ci", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	issued["API token"] = rawAPI
	user, _ := app.db.UserByUsername(ctx, "ned")
	rawAdmin, err := app.db.CreateAdminSession(ctx, user.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issued["admin session cookie"] = rawAdmin
	assertNotInDatabase(t, app, issued)

	// No private key in the clear: every signing key BLOB fails to parse
	// as a private key in any encoding…
	var rows []models.SigningKey
	if err := app.db.Gorm().Find(&rows).Error; err != nil || len(rows) < 2 {
		t.Fatalf("signing keys: %d %v", len(rows), err)
	}
	for _, row := range rows {
		for name, blob := range map[string][]byte{"private_key_enc": row.PrivateKeyEnc, "public_key": row.PublicKey} {
			if k := parsePrivateKey(blob); k != "" {
				t.Errorf("signing key %s: %s parses as a %s private key", row.ID, name, k)
			}
		}
	}
	// …and no DER private key or PEM block is anywhere in the file.
	if !app.db.IsPostgres() {
		raw := rawDatabase(t, app)
		if bytes.Contains(raw, []byte("PRIVATE KEY")) {
			t.Error("a PEM private key is stored in the database")
		}
		if off, kind := findDERPrivateKey(raw); off >= 0 {
			t.Errorf("a %s private key is stored in clear at offset %d of the database file", kind, off)
		}
	}

	// Without the master key the provider refuses to start, so nothing can
	// be signed with the stored keys.
	wrong, _ := models.NewSealer(bytes.Repeat([]byte{8}, 32))
	_, err = New(ctx, Config{Issuer: app.issuer, Listen: "127.0.0.1:1", InternalListen: "127.0.0.1:2", Now: app.clock.Now}, app.db, wrong)
	if err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("provider started with the wrong master key: %v", err)
	}
	for _, row := range rows {
		if _, err := wrong.Open(row.PrivateKeyEnc, []byte(row.ID)); err == nil {
			t.Fatal("a signing key opened with the wrong master key")
		}
	}
}

// parsePrivateKey reports which private key format b parses as, or "".
func parsePrivateKey(b []byte) string {
	if _, err := x509.ParsePKCS8PrivateKey(b); err == nil {
		return "PKCS#8"
	}
	if _, err := x509.ParsePKCS1PrivateKey(b); err == nil {
		return "PKCS#1"
	}
	if _, err := x509.ParseECPrivateKey(b); err == nil {
		return "SEC1 EC"
	}
	return ""
}

// findDERPrivateKey scans b for a DER SEQUENCE that parses as a private
// key and returns its offset (or -1).
func findDERPrivateKey(b []byte) (int, string) {
	for i := 0; i+4 < len(b); i++ {
		if b[i] != 0x30 {
			continue
		}
		var n, hdr int
		switch b[i+1] {
		case 0x81:
			n, hdr = int(b[i+2]), 3
		case 0x82:
			n, hdr = int(b[i+2])<<8|int(b[i+3]), 4
		default:
			continue
		}
		if n < 64 || i+hdr+n > len(b) {
			continue
		}
		if k := parsePrivateKey(b[i : i+hdr+n]); k != "" {
			return i, k
		}
	}
	return -1, ""
}

// rawDatabase returns the SQLite database file and its WAL.
func rawDatabase(t *testing.T, app *testApp) []byte {
	t.Helper()
	if err := app.db.Gorm().Exec("PRAGMA wal_checkpoint(FULL)").Error; err != nil {
		t.Fatal(err)
	}
	var path string
	if err := app.db.Gorm().Raw("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path).Error; err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(path + "-wal")
	return append(raw, wal...)
}

// TestFindDERPrivateKeyFindsKeys proves the scanner above would see a key
// stored in clear.
func TestFindDERPrivateKeyFindsKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, k := range []any{ec, rs} {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 4096)
		_, _ = rand.Read(junk)
		blob := append(append(junk[:1000:1000], der...), junk[1000:]...)
		if off, kind := findDERPrivateKey(blob); off != 1000 || kind != "PKCS#8" {
			t.Fatalf("%T: found at %d (%s)", k, off, kind)
		}
	}
}

// TestWrongMasterKeyWritesNothing: a start with the wrong master key fails
// before anything is sealed with it. Here the database has signing keys
// (as after `latchkey keys rotate` on a new install) but no admin console
// secret yet; a failed start must not store one sealed with the wrong key,
// or every later start with the right key would fail.
func TestWrongMasterKeyWritesNothing(t *testing.T) {
	ctx := context.Background()
	db, right := openTestDB(t, dbtest.DSN(t), nil) // harness_test.go
	wrong, _ := models.NewSealer(bytes.Repeat([]byte{8}, 32))
	cfg := Config{Issuer: "http://localhost:9", Listen: "127.0.0.1:1", InternalListen: "127.0.0.1:2"}
	cfg.Defaults()
	if _, err := oidc.New(ctx, cfg.OIDC, db, right); err != nil { // creates the signing keys
		t.Fatal(err)
	}
	if _, err := New(ctx, cfg, db, wrong); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("started with the wrong master key: %v", err)
	}
	var secrets int64
	if err := db.Gorm().Table("secrets").Where("name = ?", admin.SecretName).Count(&secrets).Error; err != nil || secrets != 0 {
		t.Fatalf("%d admin console secrets stored by the failed start (%v)", secrets, err)
	}
	if _, err := db.ClientByID(ctx, admin.ClientID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("admin console client stored by the failed start: %v", err)
	}
	if _, err := New(ctx, cfg, db, right); err != nil {
		t.Fatalf("the right master key after a failed start: %v", err)
	}
}

// A server whose key is not the one the database names (as when `latchkey
// master-key rotate` committed while it started) refuses to start after
// marking itself running, and leaves no mark behind (presence.go).
func TestStartRefusesARotatedKey(t *testing.T) {
	ctx := context.Background()
	db, sealer := openTestDB(t, dbtest.DSN(t), nil)
	if err := db.CheckMasterKey(ctx, models.NewMasterKey()); err != nil { // the rotation's new key
		t.Fatal(err)
	}
	cfg := Config{Issuer: "http://localhost:9", Listen: "127.0.0.1:1", InternalListen: "127.0.0.1:2"}
	if _, err := New(ctx, cfg, db, sealer); err == nil || !strings.Contains(err.Error(), "rotated while this server started") {
		t.Fatalf("started with a key the database no longer names: %v", err)
	}
	if running, err := db.RunningInstances(ctx); err != nil || len(running) != 0 {
		t.Fatalf("a refused start left marks: %v %v", running, err)
	}
}
