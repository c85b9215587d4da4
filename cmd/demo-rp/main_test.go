package main

import (
	"io"
	"slices"
	"testing"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{
		"DEMO_ISSUER":    "http://idp.test:8080",
		"DEMO_CLIENT_ID": "from-env",
		"DEMO_LISTEN":    "",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, cfg config)
	}{
		{
			name: "env and defaults",
			check: func(t *testing.T, cfg config) {
				if cfg.Issuer != "http://idp.test:8080" || cfg.ClientID != "from-env" || cfg.ClientSecret != "" {
					t.Errorf("cfg = %+v", cfg)
				}
				if cfg.Listen != "localhost:9090" || cfg.RedirectURL != "http://localhost:9090/callback" {
					t.Errorf("empty env must fall back to defaults: %+v", cfg)
				}
				if want := []string{"openid", "profile", "email", "groups", "offline_access"}; !slices.Equal(cfg.Scopes, want) {
					t.Errorf("scopes = %q, want %q", cfg.Scopes, want)
				}
			},
		},
		{
			name: "flags win",
			args: []string{"--client-id", "flag", "--client-secret", "s", "--scopes", "openid,email", "--listen", ":0"},
			check: func(t *testing.T, cfg config) {
				if cfg.ClientID != "flag" || cfg.ClientSecret != "s" || cfg.Listen != ":0" {
					t.Errorf("cfg = %+v", cfg)
				}
				if want := []string{"openid", "email"}; !slices.Equal(cfg.Scopes, want) {
					t.Errorf("scopes = %q, want %q", cfg.Scopes, want)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseFlags(tc.args, lookup, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
	if _, err := parseFlags([]string{"extra"}, lookup, io.Discard); err == nil {
		t.Error("positional argument accepted")
	}
}
