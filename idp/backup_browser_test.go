package idp

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-idp/latchkey/models"
)

// startAppOn serves a test app on the SQLite installation in dataDir,
// sealed with key (as `latchkey serve` does: the key is checked against
// the database's fingerprint first).
func startAppOn(t *testing.T, dataDir string, key []byte) (*testApp, error) {
	t.Helper()
	ctx := context.Background()
	clk := &clock{}
	db, err := models.Open(ctx, models.Options{DataDir: dataDir, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckMasterKey(ctx, key); err != nil {
		return nil, err
	}
	sealer, err := models.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	ln, issuer := listenLoopback(t)
	srv, err := New(ctx, testConfig(t, issuer, clk.Now), db, sealer)
	if err != nil {
		return nil, err
	}
	hs := serveOn(t, ln, srv.PublicHandler())
	return &testApp{t: t, srv: srv, db: db, clock: clk, issuer: issuer, http: hs}, nil
}

// TestBrowserSignInAfterBackupRestore: a user makes a passkey in Chromium
// on a running installation; the installation is backed up while it runs
// (models.BackupSQLite, what `latchkey backup` does) and restored into a
// new data directory (models.RestoreSQLite). The restored copy does not
// start with another key; with the right key, the same passkey signs the
// user in to an application on it and the ID token names the same user.
func TestBrowserSignInAfterBackupRestore(t *testing.T) {
	exe := findChromium(t)
	ctx := context.Background()
	key := models.NewMasterKey()
	original := filepath.Join(t.TempDir(), "data")
	appA, err := startAppOn(t, original, key)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		hits []string
	)
	redirect := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" {
			mu.Lock()
			hits = append(hits, r.URL.String())
			mu.Unlock()
			_, _ = w.Write([]byte("signed in"))
			return
		}
		http.NotFound(w, r)
	}))
	base := redirect
	redirect += "/callback"
	user, setupURL := appA.newUser(browserUsername, false)
	client, secret := appA.newClient(redirect)

	c := newChrome(t, exe, true)
	if _, err := chromedp.Call(c.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noAutofillJS}); err != nil {
		t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	c.setUpPasskey(setupURL, "Headless Chromium")
	if n := len(c.credentials()); n != 1 {
		c.fatalf("virtual authenticator holds %d credentials, want 1", n)
	}

	backup := filepath.Join(t.TempDir(), "latchkey.backup")
	if err := models.BackupSQLite(ctx, filepath.Join(original, "latchkey.db"), backup); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	fp, err := models.RestoreSQLite(ctx, backup, filepath.Join(restored, "latchkey.db"))
	if err != nil || fp != models.MasterKeyFingerprint(key) {
		t.Fatalf("restore: %q %v", fp, err)
	}
	if _, err := startAppOn(t, restored, models.NewMasterKey()); err == nil {
		t.Fatal("the restored installation started with another master key")
	}
	appB, err := startAppOn(t, restored, key)
	if err != nil {
		t.Fatalf("the restored installation with its key: %v", err)
	}
	if appB.issuer == appA.issuer {
		t.Fatal("the restored server must be another server")
	}

	r := appB.newRP(client.ID, secret, redirect)
	authURL, f := r.authURL()
	c.do("open the restored server's sign-in page",
		chromedp.Navigate(authURL),
		chromedp.WaitReady(chromedp.ID("passkey-signin")),
		chromedp.Click(chromedp.ID("passkey-signin")),
	)
	var cb *url.URL
	for cb == nil {
		if err := c.ctx.Err(); err != nil {
			c.fatalf("no sign-in on the restored server: %v", err)
		}
		s, err := c.state()
		if err == nil && strings.Contains(s.StatusKind, "error") && s.Status != "" {
			c.fatalf("the sign-in page reports: %q", s.Status)
		}
		mu.Lock()
		if len(hits) > 0 {
			cb, _ = url.Parse(base + hits[0])
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	_, idt := r.exchange(cb, f)
	if idt.Subject != user.ID {
		t.Fatalf("ID token sub = %q, want %q", idt.Subject, user.ID)
	}
	stored, err := appB.db.CredentialsByUser(ctx, user.ID)
	if err != nil || len(stored) != 1 || stored[0].LastUsedAt == nil {
		t.Fatalf("the passkey's use was not recorded on the restored server: %+v %v", stored, err)
	}
}
