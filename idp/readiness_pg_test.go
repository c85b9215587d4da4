package idp

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/models"
)

// TestReadyzOnPostgresWriteFailures: on Postgres, a database that stops
// storing data makes /readyz fail and comes back by itself, and the grant
// that could not be stored is answered as our failure (server_error or
// temporarily_unavailable), never invalid_grant. The failures are the
// SQLSTATEs Postgres really gives: 53100 disk_full when a file cannot
// grow, and 25006 read_only_sql_transaction from a standby that a
// failover left the instance pointing at. A trigger raises them on every
// write of the tables the probe and the refresh grant write, as the
// server would, without filling a disk. This test always runs on
// Postgres (LATCHKEY_TEST_POSTGRES), like the multi-instance tests.
func TestReadyzOnPostgresWriteFailures(t *testing.T) {
	app := newTestAppOn(t, dbtest.PostgresDSN(t))
	ctx := context.Background()
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	_, setup := app.newUser("pia", false)
	b := app.newBrowser()
	b.register(setup)
	g := r.signInGrant(b)

	ready := func(want int, what, wantBody string) {
		t.Helper()
		code, body := app.scrape("/readyz")
		if code != want || !strings.Contains(body, wantBody) {
			t.Fatalf("%s: /readyz = %d %q, want %d %q", what, code, body, want, wantBody)
		}
	}
	exec := func(q string) {
		t.Helper()
		if err := app.db.Gorm().Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ready(http.StatusOK, "before", "ready")

	for _, tc := range []struct{ name, errcode, message string }{
		{"disk full", "disk_full", "could not extend file: No space left on device"},
		{"read-only standby", "read_only_sql_transaction", "cannot execute UPDATE in a read-only transaction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec(`CREATE OR REPLACE FUNCTION lk_refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '` + tc.message + `' USING ERRCODE = '` + tc.errcode + `'; END $$`)
			for _, tbl := range []string{"leases", "grants"} {
				exec(`CREATE TRIGGER lk_refuse BEFORE INSERT OR UPDATE OR DELETE ON ` + tbl + ` FOR EACH STATEMENT EXECUTE FUNCTION lk_refuse_writes()`)
			}
			app.clock.Advance(2 * time.Second) // past the probe's cached success
			ready(http.StatusServiceUnavailable, tc.name, "database refuses writes")

			_, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: g.tok.RefreshToken}).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("refresh: %v, want an OAuth error answer", err)
			}
			st := re.Response.StatusCode
			ours := (st == http.StatusInternalServerError && re.ErrorCode == "server_error") ||
				(st == http.StatusServiceUnavailable && re.ErrorCode == "temporarily_unavailable" && re.Response.Header.Get("Retry-After") != "")
			if !ours {
				t.Fatalf("refresh while Postgres refuses writes (%s): %d %q, want server_error or temporarily_unavailable", tc.errcode, st, re.ErrorCode)
			}

			for _, tbl := range []string{"leases", "grants"} {
				exec(`DROP TRIGGER lk_refuse ON ` + tbl)
			}
			// Readiness comes back by itself once writes work and the
			// failure is older than models.WriteFailureHold.
			app.clock.Advance(models.WriteFailureHold + time.Second)
			ready(http.StatusOK, tc.name+", after", "ready")
			// The refused refresh changed nothing: the same token still works.
			tok, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: g.tok.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("refresh after %s: %v", tc.name, err)
			}
			g.tok = tok
		})
	}
	if err := app.db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
