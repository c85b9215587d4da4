package oidc

import "testing"

// RFC 9449 §4.3 check 9: htu is compared without query and fragment, with
// the scheme and host normalized (RFC 3986 §6.2.2.1, §6.2.3).
func TestSameHTU(t *testing.T) {
	const ep = "https://id.example.com/oauth/token"
	for htu, want := range map[string]bool{
		ep:                                        true,
		ep + "?a=b":                               true,
		ep + "#frag":                              true,
		"HTTPS://ID.EXAMPLE.COM/oauth/token":      true,
		"https://id.example.com:443/oauth/token":  true,
		"https://id.example.com/oauth/token/":     false,
		"https://id.example.com/OAUTH/token":      false,
		"http://id.example.com/oauth/token":       false,
		"https://id.example.com:8443/oauth/token": false,
		"https://evil.example/oauth/token":        false,
		"https://user@id.example.com/oauth/token": false,
		"https://id.example.com/oauth/introspect": false,
		"/oauth/token":                            false,
		"urn:x:y":                                 false,
		"":                                        false,
	} {
		if got := sameHTU(htu, ep); got != want {
			t.Errorf("sameHTU(%q) = %v, want %v", htu, got, want)
		}
	}
}
