package main

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckRedirectURI: what `clients add` accepts is an absolute URI
// without a fragment, and an http(s) one has a host.
func FuzzCheckRedirectURI(f *testing.F) {
	for _, s := range []string{"http://localhost:9090/callback", "https://app.example.com/cb", "/relative", "http:///nohost",
		"https://x#frag", "com.example.app:/cb", "javascript:alert(1)", "", "\x00", "http://[::1", "HTTPS://A.example/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if checkRedirectURI(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || strings.Contains(raw, "#") {
			t.Fatalf("accepted %q (%v)", raw, err)
		}
		if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
			t.Fatalf("accepted %q without a host", raw)
		}
		switch strings.ToLower(u.Scheme) {
		case "javascript", "data", "vbscript", "file":
			t.Fatalf("accepted the dangerous %q", raw)
		}
	})
}
