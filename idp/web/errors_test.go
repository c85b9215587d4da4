package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestErrorHandler(t *testing.T) {
	e := testEcho(t)
	for _, tc := range []struct {
		name, method, path string
		check              func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{"JSON route", http.MethodPost, "/api", func(t *testing.T, rec *httptest.ResponseRecorder) {
			if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `"error":"taken"`) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}},
		{"HTML page", http.MethodGet, "/page", func(t *testing.T, rec *httptest.ResponseRecorder) {
			if rec.Code != http.StatusConflict || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
				!strings.Contains(rec.Body.String(), "taken") {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}},
		{"5xx hides the cause", http.MethodGet, "/boom", func(t *testing.T, rec *httptest.ResponseRecorder) {
			if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "secret cause") {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}},
		{"unknown path", http.MethodGet, "/nope", func(t *testing.T, rec *httptest.ResponseRecorder) {
			if rec.Code != http.StatusNotFound || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v", rec.Code, rec.Header())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			tc.check(t, rec)
		})
	}
}
