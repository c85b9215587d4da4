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
