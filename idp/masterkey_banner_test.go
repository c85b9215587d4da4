package idp

import (
	"net/http"
	"strings"
	"testing"
)

// TestConsoleShowsMasterKeyWarning: while the master key sits in the data
// directory (cmd/latchkey sets MasterKeyWarning), every console page says
// so; without the warning no banner is shown.
func TestConsoleShowsMasterKeyWarning(t *testing.T) {
	const warning = "the master key is inside the data directory: move it"
	for _, tc := range []struct {
		name    string
		warning string
	}{{"key in the data directory", warning}, {"key elsewhere", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			app := newAdminApp(t, func(c *Config) { c.MasterKeyWarning = tc.warning })
			_, link := app.newUser("root", true)
			b := app.newBrowser()
			b.register(link)
			resp := app.consoleSignIn(b)
			_ = resp.Body.Close() // only the session cookie matters
			for _, page := range []string{"/admin", "/admin/users", "/admin/keys"} {
				body, _ := b.adminPage(app.adminURL+page, http.StatusOK)
				shown := strings.Contains(body, `id="installation-warning"`) && strings.Contains(body, warning)
				if shown != (tc.warning != "") {
					t.Fatalf("%s: banner shown %v, want %v", page, shown, tc.warning != "")
				}
			}
		})
	}
}
