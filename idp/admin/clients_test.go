package admin

import (
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/outbound"
	"github.com/latchkey-idp/latchkey/models"
)

// TestValidateClientBackchannelURI: the console form applies the outbound
// policy of a production issuer and says which field and why.
func TestValidateClientBackchannelURI(t *testing.T) {
	pol := outbound.NewPolicy("https://id.example.com", nil)
	for uri, why := range map[string]string{
		"":                            "",
		"https://rp.example.com/bc":   "",
		"http://rp.example.com/bc":    "https",
		"https://127.0.0.1:8081/api":  "loopback",
		"http://127.0.0.1:8081/api":   "https",
		"https://169.254.169.254/":    "link-local",
		"https://[::]/":               "unspecified",
		"https://172.16.5.5/":         "--outbound-allow",
		"gopher://rp.example.com/":    "gopher",
		"https://a:b@rp.example.com/": "user name",
	} {
		cl := &models.Client{Name: "RP", RedirectURIs: models.StringList{"https://rp.example.com/cb"}, IDTokenAlg: "RS256",
			AccessTokenFormat: models.AccessTokenJWT, BackchannelLogoutURI: uri}
		msg := validateClient(cl, pol, "The back-channel logout URI")
		if (msg == "") != (why == "") || !strings.Contains(msg, why) || (why != "" && !strings.HasPrefix(msg, "The back-channel logout URI")) {
			t.Errorf("%q: %q, want a message saying %q", uri, msg, why)
		}
	}
}
