package idp

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// postgresTests are the protocol tests that run again on Postgres: the
// end-to-end flow and its refusals. The browser tests exercise pages, not
// storage, and stay on SQLite only.
const postgresTests = "^(TestEndToEndPasskeyToTokens|TestStorageOutageIsNotTheClientsFault|TestRefreshReuseGrace|TestRefreshReuseGraceOff|TestES256ClientAndPublicClient|TestSignInRefusals|TestAuthorizeRefusals|TestSetupLinkRefusals|TestMetricsAfterFlow|TestAdminAPIPaging|TestAdminConsoleUsersPaging|TestAdminConsoleListsPaging|TestSCIMLifecycle)$"

// TestPostgres runs postgresTests again with every test database on
// Postgres (LATCHKEY_TEST_POSTGRES).
func TestPostgres(t *testing.T) { dbtest.RerunOnPostgres(t, postgresTests) }

// assertNotInPostgres is assertNotInDatabase for Postgres: every row of
// every table of the test schema, as text (bytea in hex), must contain
// none of the issued secrets, neither as text nor as hex bytes.
func assertNotInPostgres(t *testing.T, app *testApp, issued map[string]string) {
	t.Helper()
	var tables []string
	if err := app.db.Gorm().Raw("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	if len(tables) < 10 {
		t.Fatalf("only %d tables in the test schema: %v", len(tables), tables)
	}
	var dump strings.Builder
	for _, tbl := range tables {
		var rows []string
		if err := app.db.Gorm().Raw(`SELECT t::text FROM "` + tbl + `" t`).Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		dump.WriteString(strings.Join(rows, "\n"))
	}
	all := dump.String()
	for name, v := range issued {
		if v == "" {
			t.Errorf("%s was not captured", name)
			continue
		}
		if strings.Contains(all, v) || strings.Contains(all, hex.EncodeToString([]byte(v))) {
			t.Errorf("%s is stored in clear in the database", name)
		}
	}
}
