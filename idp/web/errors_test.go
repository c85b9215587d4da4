package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// FuzzDecodeJSON: any body and content type yields either a decoded value
// or a 4xx app error, never a panic or a 5xx.
func FuzzDecodeJSON(f *testing.F) {
	e := echo.New()
	for _, seed := range []string{`{}`, `{"authRequestID":"x"}`, `{"a":1} {"b":2}`, `{"authRequestID":`, "{\"authRequestID\":\"\xff\"}",
		`[]`, `null`, `"x"`, `{"authRequestID":{"nested":[1,2,3]}}`, strings.Repeat("[", 10000)} {
		f.Add(seed, "application/json")
	}
	f.Add(`{}`, "text/plain")
	f.Add(`{}`, "application/json; charset=utf-8")
	f.Add(`{}`, "application/jsonx")
	f.Fuzz(func(t *testing.T, body, ct string) {
		req := httptest.NewRequest(http.MethodPost, "/login/passkey/begin", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		c := e.NewContext(req, httptest.NewRecorder())
		var v struct {
			AuthRequestID string          `json:"authRequestID"`
			Credential    json.RawMessage `json:"credential"`
		}
		err := DecodeJSON(c, &v)
		if err == nil {
			return
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 || ae.Message == "" {
			t.Fatalf("DecodeJSON(%q, %q) = %v", body, ct, err)
		}
	})
}

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
