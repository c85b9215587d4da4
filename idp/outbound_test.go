package idp

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// TestAPIRefusesInternalBackchannelURIs: on a production issuer (https,
// not loopback), /api/v1/clients refuses back-channel logout URIs that
// lead to the server's own host, the cloud metadata service, private
// networks or other schemes, with a message naming the field; a private
// range the operator allowed (--outbound-allow) is accepted.
func TestAPIRefusesInternalBackchannelURIs(t *testing.T) {
	ctx := context.Background()
	db, sealer := openTestDB(t, dbtest.DSN(t), nil)
	cfg := testConfig(t, "https://id.example.test", nil)
	cfg.BehindTLSProxy, cfg.TrustedProxies = true, []string{"127.0.0.1/32"}
	cfg.OIDC.Outbound.Allow = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}
	srv, err := New(ctx, cfg, db, sealer)
	if err != nil {
		t.Fatal(err)
	}
	ln, internalURL := listenLoopback(t)
	serveOn(t, ln, srv.InternalHandler())
	app := &adminApp{adminURL: internalURL}
	token, _, err := db.CreateAPIToken(ctx, "test", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	internal := strings.Replace(internalURL, "localhost", "127.0.0.1", 1)
	for _, tc := range []struct{ uri, why string }{
		{"http://169.254.169.254/latest/meta-data/", "https"},
		{"https://169.254.169.254/latest/meta-data/", "link-local"},
		{"https://[fe80::1]/bc", "link-local"},
		{"https://[::1]:8081/bc", "loopback"},
		{"http://[::1]:8081/bc", "https"},
		{"https://0.0.0.0/", "unspecified"},
		{"https://[::ffff:127.0.0.1]/", "loopback"},
		{"gopher://rp.example.com:70/_x", "gopher"},
		{"file:///etc/passwd", "file"},
		{internal + "/api/v1/users", "https"},
		{strings.Replace(internal, "http://", "https://", 1) + "/api/v1/users", "loopback"},
		{"https://localhost/bc", "loopback"},
		{"https://admin:pw@rp.example.com/bc", "user name"},
		{"https://192.168.1.10/bc", "--outbound-allow"},
		{"https://[fd00::1]/bc", "private"},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			var e map[string]string
			st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token,
				map[string]any{"name": "RP", "redirect_uris": []string{"https://rp.example.com/cb"}, "backchannel_logout_uri": tc.uri}, &e)
			if st != http.StatusUnprocessableEntity || !strings.Contains(e["error"], "backchannel_logout_uri") || !strings.Contains(e["error"], tc.why) {
				t.Fatalf("POST = %d %v; want 422 naming backchannel_logout_uri and %q", st, e, tc.why)
			}
		})
	}

	var cl admin.APIClient
	if st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, map[string]any{"name": "RP",
		"redirect_uris": []string{"https://rp.example.com/cb"}, "backchannel_logout_uri": "https://rp.example.com/bc"}, &cl); st != http.StatusCreated || cl.BackchannelLogoutURI != "https://rp.example.com/bc" {
		t.Fatalf("public receiver: %d %+v", st, cl)
	}
	var e map[string]string
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+cl.ID, token, map[string]any{"backchannel_logout_uri": "https://127.0.0.1:8081/"}, &e); st != http.StatusUnprocessableEntity {
		t.Fatalf("PATCH to loopback = %d %v", st, e)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+cl.ID, token, map[string]any{"backchannel_logout_uri": "https://10.20.1.2/bc"}, &cl); st != http.StatusOK || cl.BackchannelLogoutURI != "https://10.20.1.2/bc" {
		t.Fatalf("PATCH to an allowed private range = %d %+v", st, cl)
	}
	if stored, _ := db.ClientByID(ctx, cl.ID); stored.BackchannelLogoutURI != "https://10.20.1.2/bc" {
		t.Fatalf("stored %q", stored.BackchannelLogoutURI)
	}
}
