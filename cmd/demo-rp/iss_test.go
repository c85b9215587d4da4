package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// RFC 9207 §2.4: once discovery advertises the iss parameter, a callback
// without it (or with another issuer) is refused before anything else.
func TestCallbackChecksAdvertisedIss(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize", "token_endpoint": srv.URL + "/oauth/token",
			"jwks_uri": srv.URL + "/keys", "authorization_response_iss_parameter_supported": true,
		})
	}))
	defer srv.Close()
	s := newTestServer(t, testConfig(t, srv.URL, srv.Client()))
	if _, err := s.provider(context.Background()); err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		"/callback?state=s&code=c":                                      "invalid_issuer",
		"/callback?error=access_denied":                                 "invalid_issuer",
		"/callback?state=s&code=c&iss=" + url.QueryEscape(srv.URL+"/x"): "invalid_issuer",
		"/callback?state=s&code=c&iss=" + url.QueryEscape(srv.URL):      "invalid_state", // iss passes; the state is next
	} {
		rec := do(t, s, http.MethodGet, target, nil)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %d, want 400 %s", target, rec.Code, want)
		}
	}
}
