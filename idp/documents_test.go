package idp

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/web"
)

// TestDocumentFastPath: discovery and JWKS, served ahead of echo's router
// (documents.go), over the real listener: the same headers as any page
// (plus their own CSP, caching and CORS), a request ID, the current
// bytes (a rotation shows at once), their metrics and their log line;
// other methods still reach op.
func TestDocumentFastPath(t *testing.T) {
	var logs syncBuffer
	app := newTestApp(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	ctx := context.Background()
	// do answers the status, headers and body (read and closed).
	do := func(method, path string, hdr ...string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, app.issuer+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, string(body)
	}
	for _, tc := range []struct{ path, cache string }{
		{"/.well-known/openid-configuration", "public, max-age=3600"},
		{"/keys", "public, max-age=300"},
	} {
		want, _, ok := app.srv.op.Document(ctx, tc.path)
		if !ok {
			t.Fatalf("%s is not a document", tc.path)
		}
		status, h, body := do(http.MethodGet, tc.path)
		if status != http.StatusOK || body != string(want) || !json.Valid([]byte(body)) {
			t.Fatalf("GET %s = %d %q", tc.path, status, body)
		}
		for name, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": tc.cache,
			"Access-Control-Allow-Origin": "*", "Content-Security-Policy": documentPolicy,
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
			"Cross-Origin-Opener-Policy": "same-origin"} {
			if got := h.Values(name); len(got) != 1 || got[0] != v {
				t.Errorf("GET %s: %s = %q, want %q", tc.path, name, got, v)
			}
		}
		if h.Get("Pragma") != "" || h.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: Pragma %q, X-Request-Id %q", tc.path, h.Get("Pragma"), h.Get("X-Request-Id"))
		}
		// The caller's request ID is kept, as on every other route.
		if _, h, _ := do(http.MethodGet, tc.path, "X-Request-Id", "trace-42"); h.Get("X-Request-Id") != "trace-42" {
			t.Errorf("GET %s: request ID %q", tc.path, h.Get("X-Request-Id"))
		}
		if status, h, body := do(http.MethodHead, tc.path); status != http.StatusOK || body != "" ||
			h.Get("Cache-Control") != tc.cache {
			t.Errorf("HEAD %s = %d, %d bytes, %v", tc.path, status, len(body), h)
		}
		// Another method goes through echo to op (op's route CSP shows it).
		if status, h, _ := do(http.MethodPost, tc.path); h.Get("Content-Security-Policy") != web.FormPostPolicy {
			t.Errorf("POST %s did not reach op: %d %v", tc.path, status, h)
		}
		// A CORS preflight still gets op's answer.
		if status, h, _ := do(http.MethodOptions, tc.path, "Origin", "https://rp.example", "Access-Control-Request-Method", "GET"); status >= 300 ||
			h.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("preflight %s = %d %v", tc.path, status, h)
		}
		// A path that only looks like the document is not served as it,
		// nor an escaped spelling of it (echo routes on the raw path).
		escaped := strings.Replace(tc.path, "e", "%65", 1)
		for _, p := range []string{tc.path + "/", escaped} {
			if status, _, _ := do(http.MethodGet, p); status != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", p, status)
			}
		}
	}

	// A rotation is in the next JWKS answer.
	_, _, before := do(http.MethodGet, "/keys")
	if err := app.srv.op.RotateKeys(ctx, ""); err != nil {
		t.Fatal(err)
	}
	_, _, after := do(http.MethodGet, "/keys")
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal([]byte(after), &set); err != nil || after == before || strings.Count(after, `"kid"`) <= strings.Count(before, `"kid"`) {
		t.Fatalf("JWKS after rotation: %v\nbefore %s\nafter  %s", err, before, after)
	}

	_, metrics := app.scrape("/metrics")
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{`route="/.well-known/openid-configuration"`, `method="GET"`, `code="200"`}, 2},
		{[]string{`route="/keys"`, `method="GET"`, `code="200"`}, 4},
		{[]string{`route="/keys"`, `method="HEAD"`, `code="200"`}, 1},
	} {
		if v, _ := metricValue(metrics, "latchkey_http_requests_total", c.labels...); v != c.want {
			t.Errorf("latchkey_http_requests_total%v = %v, want %v", c.labels, v, c.want)
		}
	}
	if v, _ := metricValue(metrics, "latchkey_http_request_duration_seconds_count", `route="/keys"`, `method="GET"`); v != 4 {
		t.Errorf("/keys GET latency count = %v", v)
	}
	var lines int
	for _, l := range strings.Split(logs.String(), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(l), &line) != nil || line["msg"] != "request" || line["route"] != "/keys" || line["method"] != "GET" {
			continue
		}
		lines++
		if line["status"] != float64(200) || line["client_ip"] != "127.0.0.1" || line["request_id"] == "" || line["bytes"] != float64(len(after)) && line["bytes"] != float64(len(before)) {
			t.Errorf("log line %s", l)
		}
	}
	if lines != 4 {
		t.Errorf("%d request log lines for GET /keys, want 4:\n%s", lines, logs.String())
	}
}
