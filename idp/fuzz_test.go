package idp

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// fuzzServer is a Server on a fresh database, for fuzz targets.
func fuzzServer(f *testing.F) *Server {
	f.Helper()
	db, sealer := openTestDB(f, dbtest.DSN(f), nil)
	cfg := Config{Issuer: "http://localhost:8080", Listen: "127.0.0.1:1", InternalListen: "127.0.0.1:2",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimits: RateLimits{Disabled: true}}
	s, err := New(context.Background(), cfg, db, sealer)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzSetupTokenPath requests /setup/{token} and its ceremony endpoints
// with arbitrary tokens: never a 5xx, never a 200 for a token that was not
// issued.
func FuzzSetupTokenPath(f *testing.F) {
	s := fuzzServer(f)
	for _, seed := range []string{"x", "", "..", "%2e%2e", "a/b", "\x00", strings.Repeat("A", 5000), "%ff%fe", "' OR 1=1 --", "tok?x=1#y"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		for _, tc := range []struct{ method, suffix, body string }{{http.MethodGet, "", ""}, {http.MethodPost, "/begin", "{}"}, {http.MethodPost, "/finish", `{"ceremonyID":"x"}`}} {
			target := "/setup/" + url.PathEscape(token) + tc.suffix
			req, err := http.NewRequest(tc.method, target, strings.NewReader(tc.body))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			rec := httptest.NewRecorder()
			s.public.ServeHTTP(rec, req)
			if rec.Code >= 500 || rec.Code == http.StatusOK {
				t.Fatalf("%s %s: %d %s", tc.method, target, rec.Code, rec.Body)
			}
		}
	})
}
