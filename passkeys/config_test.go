package passkeys

import (
	"slices"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings, one per expected problem
	}{
		{name: "localhost", cfg: Config{RPID: "localhost", RPOrigins: []string{"http://localhost:8080"}}},
		{name: "subdomain origins", cfg: Config{RPID: "example.com", RPOrigins: []string{"https://example.com", "https://id.example.com/", "https://ID.Example.com:8443"}}},
		{name: "empty", cfg: Config{}, want: []string{"RP ID is required", "at least one RP origin"}},
		{name: "IPv4 RP ID", cfg: Config{RPID: "127.0.0.1", RPOrigins: []string{"http://127.0.0.1:8080"}},
			want: []string{"is an IP address", "must use https"}},
		{name: "IPv6 RP ID", cfg: Config{RPID: "::1", RPOrigins: []string{"https://localhost"}}, want: []string{"is an IP address"}},
		{name: "bad domain", cfg: Config{RPID: "exa mple.com", RPOrigins: []string{"https://example.com"}}, want: []string{"not a valid domain"}},
		{name: "uppercase RP ID", cfg: Config{RPID: "Example.com", RPOrigins: []string{"https://example.com"}}, want: []string{"lowercase"}},
		{name: "origin on other domain", cfg: Config{RPID: "example.com", RPOrigins: []string{"https://example.org", "https://badexample.com"}},
			want: []string{"\"https://example.org\": host", "\"https://badexample.com\": host"}},
		{name: "origin with path", cfg: Config{RPID: "example.com", RPOrigins: []string{"https://example.com/login"}}, want: []string{"without user, path"}},
		{name: "origin without scheme", cfg: Config{RPID: "example.com", RPOrigins: []string{"example.com"}}, want: []string{"scheme must be"}},
		{name: "plain http off localhost", cfg: Config{RPID: "example.com", RPOrigins: []string{"http://example.com"}}, want: []string{"must use https"}},
		{name: "negative timeouts", cfg: Config{RPID: "localhost", RPOrigins: []string{"http://localhost"}, RegistrationTimeout: -1, LoginTimeout: -1},
			want: []string{"registration timeout", "login timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg.Validate()
			if len(got) != len(tc.want) {
				t.Fatalf("Validate() = %q, want %d problems %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{RPID: "example.com", RPOrigins: []string{"https://Example.com:443/", "http://localhost:80"}}.withDefaults()
	if c.RPDisplayName != "Latchkey" || c.RegistrationTimeout != DefaultRegistrationTimeout || c.LoginTimeout != DefaultLoginTimeout {
		t.Errorf("defaults: %+v", c)
	}
	if want := []string{"https://example.com", "http://localhost"}; !slices.Equal(c.RPOrigins, want) {
		t.Errorf("origins %q, want %q", c.RPOrigins, want)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	e := newEnv(t)
	if _, err := New(Config{RPID: "10.0.0.1"}, e.db); err == nil || !strings.Contains(err.Error(), "IP address") {
		t.Errorf("New with IP RP ID: %v", err)
	}
	if _, err := New(Config{RPID: "localhost", RPOrigins: []string{"http://localhost"}}, nil); err == nil {
		t.Error("New without database succeeded")
	}
}
