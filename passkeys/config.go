package passkeys

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
)

// Default ceremony lifetimes (WebAuthn L3 §5.4.5 recommends 5 to 10
// minutes when user verification is required).
const (
	DefaultRegistrationTimeout = 5 * time.Minute
	DefaultLoginTimeout        = 5 * time.Minute
)

// Config describes the WebAuthn relying party.
type Config struct {
	// RPID is the relying party ID: a registrable domain suffix of every
	// origin's host, e.g. "example.com" or "localhost". Never an IP address.
	RPID string
	// RPDisplayName is shown by authenticators; defaults to "Latchkey".
	RPDisplayName string
	// RPOrigins are the exact origins (scheme://host[:port]) allowed in
	// clientDataJSON. A trailing slash and default ports are normalised away.
	RPOrigins []string
	// RegistrationTimeout and LoginTimeout bound each ceremony; zero means
	// the defaults above.
	RegistrationTimeout time.Duration
	LoginTimeout        time.Duration
	// Policy is the global passkey policy (policy.go); the zero value is
	// PolicyAny. Group policies can only make it stricter.
	Policy Policy
	// PolicyGrace is how long a passkey flagged by a tightened policy may
	// still sign in: zero means DefaultPolicyGrace, negative means none.
	PolicyGrace time.Duration
	// RelatedOrigins are origins outside the RP ID's domain that may use
	// this RP ID (WebAuthn L3 §5.11, related origin requests). They are
	// accepted in clientDataJSON and listed, with RPOrigins, in the
	// /.well-known/webauthn document that must be served at the RP ID.
	RelatedOrigins []string
}

// withDefaults returns c with defaults filled in and origins normalised.
func (c Config) withDefaults() Config {
	if c.RPDisplayName == "" {
		c.RPDisplayName = "Latchkey"
	}
	if c.RegistrationTimeout == 0 {
		c.RegistrationTimeout = DefaultRegistrationTimeout
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = DefaultLoginTimeout
	}
	origins := make([]string, 0, len(c.RPOrigins))
	for _, o := range c.RPOrigins {
		if n, err := normalizeOrigin(o); err == nil {
			origins = append(origins, n)
		}
	}
	c.RPOrigins = origins
	related := make([]string, 0, len(c.RelatedOrigins))
	for _, o := range c.RelatedOrigins {
		if n, err := normalizeOrigin(o); err == nil && !slices.Contains(origins, n) && !slices.Contains(related, n) {
			related = append(related, n)
		}
	}
	c.RelatedOrigins = related
	if c.Policy.Level == "" {
		c.Policy.Level = PolicyAny
	}
	return c
}

// Validate lists every problem with the configuration at once; an empty
// list means the configuration is usable.
func (c Config) Validate() []string {
	var problems []string
	rpID, rpIDValid := c.RPID, false
	switch {
	case rpID == "":
		problems = append(problems, "passkeys: RP ID is required (for example \"localhost\" or \"example.com\")")
	case net.ParseIP(strings.Trim(rpID, "[]")) != nil:
		problems = append(problems, fmt.Sprintf("passkeys: RP ID %q is an IP address; WebAuthn requires a domain (use \"localhost\" for development)", rpID))
	case rpID != strings.ToLower(rpID):
		problems = append(problems, fmt.Sprintf("passkeys: RP ID %q must be lowercase", rpID))
	default:
		if err := protocol.ValidateRPID(rpID); err != nil {
			problems = append(problems, fmt.Sprintf("passkeys: RP ID %q is not a valid domain: %v", rpID, err))
		} else {
			rpIDValid = true
		}
	}
	if len(c.RPOrigins) == 0 {
		problems = append(problems, "passkeys: at least one RP origin is required (for example \"https://id.example.com\")")
	}
	for _, o := range c.RPOrigins {
		n, err := normalizeOrigin(o)
		if err != nil {
			problems = append(problems, fmt.Sprintf("passkeys: RP origin %q: %v", o, err))
			continue
		}
		u, _ := url.Parse(n)
		host := u.Hostname()
		if rpIDValid && host != rpID && !strings.HasSuffix(host, "."+rpID) {
			problems = append(problems, fmt.Sprintf("passkeys: RP origin %q: host %q is neither the RP ID %q nor a subdomain of it", o, host, rpID))
		}
		// Browsers expose WebAuthn only in secure contexts: https, or
		// http on localhost (W3C Secure Contexts §3.1).
		if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			problems = append(problems, fmt.Sprintf("passkeys: RP origin %q must use https (browsers allow WebAuthn over http only on localhost)", o))
		}
	}
	for _, o := range c.RelatedOrigins {
		n, err := normalizeOrigin(o)
		if err != nil {
			problems = append(problems, fmt.Sprintf("passkeys: related origin %q: %v", o, err))
			continue
		}
		if u, _ := url.Parse(n); u.Scheme == "http" && u.Hostname() != "localhost" && !strings.HasSuffix(u.Hostname(), ".localhost") {
			problems = append(problems, fmt.Sprintf("passkeys: related origin %q must use https", o))
		}
	}
	if len(problems) == 0 {
		problems = append(problems, validateRelatedOrigins(c.RPOrigins, c.RelatedOrigins)...)
	}
	for _, p := range c.Policy.Validate() {
		problems = append(problems, "passkeys: "+p)
	}
	if c.RegistrationTimeout < 0 {
		problems = append(problems, "passkeys: registration timeout must not be negative")
	}
	if c.LoginTimeout < 0 {
		problems = append(problems, "passkeys: login timeout must not be negative")
	}
	return problems
}

// normalizeOrigin checks that o is an http(s) origin and returns its
// serialisation as a browser writes it in clientDataJSON: lowercase scheme
// and host, no default port, no path.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil {
		return "", fmt.Errorf("not a URL: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("scheme must be https or http")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("host is missing")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("must be scheme://host[:port] without user, path, query or fragment")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}
