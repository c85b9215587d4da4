package oidc

import (
	"github.com/latchkey-idp/latchkey/internal/outbound"

	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Config configures the OpenID Provider. Zero values are filled by Defaults.
type Config struct {
	// Issuer is the absolute http(s) URL of the provider, without query or
	// fragment (for example "https://id.example.com").
	Issuer string
	// LoginPath is where op sends the browser for sign-in; the client's
	// LoginURL is LoginPath + "?authRequestID=" + id.
	LoginPath string
	// LoggedOutPath is the default post-logout redirect (Issuer + path).
	LoggedOutPath   string
	AccessTokenTTL  time.Duration // default 10m
	IDTokenTTL      time.Duration // default 1h
	RefreshTokenTTL time.Duration // default 720h
	// ClientCacheSize is how many clients are kept in memory for a second
	// (clientcache.go); 0: DefaultClientCacheSize; negative: none.
	ClientCacheSize int
	// RefreshReuseGrace is how long after a rotation a retry with the
	// refresh token just rotated out gets a new token pair instead of
	// revoking the family (token.go); 0: DefaultRefreshReuseGrace;
	// negative: none.
	RefreshReuseGrace time.Duration
	CodeTTL           time.Duration // default 60s; at most 60s
	AuthRequestTTL    time.Duration // default 10m
	// Device authorization grant (device.go): code lifetime (default
	// 10m) and minimum polling interval (default 5s).
	DeviceCodeTTL      time.Duration
	DevicePollInterval time.Duration
	// KeyRotation is the planned lifetime of a signing key (default 30
	// days); the rotation job uses it.
	KeyRotation time.Duration
	// NewLoginChallenge, when set, mints the WebAuthn challenge stored with
	// each new auth request, so that the sign-in page needs no ceremony of
	// its own (passkeys.Service.NewLoginChallenge, passkeys/bound.go).
	NewLoginChallenge func() ([]byte, time.Time, error)
	// SessionCookie, when set, is the browser session cookie (name and
	// attributes; the value is ignored): end_session ends the session it
	// carries and clears it (server.go EndSession).
	SessionCookie *http.Cookie
	// Outbound is where requests to URLs that admins register (back-channel
	// logout) may go; Defaults sets DevLoopback from the issuer, the caller
	// sets Allow (--outbound-allow).
	Outbound outbound.Policy
	// RequirePAR refuses every authorization request that does not come
	// through the pushed authorization request endpoint (RFC 9126 §5,
	// par.go); a client can require it for itself too.
	RequirePAR bool
	// DPoPNonce requires a server nonce in every DPoP proof (RFC 9449 §8,
	// dpop.go): a proof without the current one is use_dpop_nonce.
	DPoPNonce bool
	// Registration is dynamic client registration (RFC 7591, RFC 7592,
	// registration.go): RegistrationOff ("" means it), RegistrationToken
	// (an admin's initial access token is required) or RegistrationOpen
	// (without a token, only for redirect URIs that match
	// RegistrationRedirectPatterns).
	Registration string
	// RegistrationRedirectPatterns are the redirect URIs open registration
	// accepts; "*" matches within a host label, port or path segment
	// (compileRedirectPattern).
	RegistrationRedirectPatterns []string
	registrationPatterns         []*regexp.Regexp // compiled by Defaults
	// RegistrationOpenLimit is how many clients open registration may
	// hold at once (default DefaultRegistrationOpenLimit); past it, a
	// registration without an initial access token is refused until an
	// admin deletes some.
	RegistrationOpenLimit int
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// DefaultRefreshReuseGrace is the default RefreshReuseGrace: long enough
// for a client to retry a refresh whose response it lost (a timeout, a
// restarted server), short enough that a stolen token is still caught.
const DefaultRefreshReuseGrace = 5 * time.Second

// maxCodeTTL bounds authorization code lifetime (RFC 6749 §4.1.2
// recommends at most 10 minutes; we are stricter).
const maxCodeTTL = 60 * time.Second

// Defaults fills zero values.
func (c *Config) Defaults() {
	if c.LoginPath == "" {
		c.LoginPath = "/login"
	}
	if c.LoggedOutPath == "" {
		c.LoggedOutPath = "/logged-out"
	}
	setDefault(&c.AccessTokenTTL, 10*time.Minute)
	setDefault(&c.IDTokenTTL, time.Hour)
	setDefault(&c.RefreshTokenTTL, 720*time.Hour)
	if c.ClientCacheSize == 0 {
		c.ClientCacheSize = DefaultClientCacheSize
	}
	if c.RefreshReuseGrace == 0 {
		c.RefreshReuseGrace = DefaultRefreshReuseGrace
	}
	setDefault(&c.CodeTTL, maxCodeTTL)
	setDefault(&c.AuthRequestTTL, 10*time.Minute)
	setDefault(&c.DeviceCodeTTL, 10*time.Minute)
	setDefault(&c.DevicePollInterval, 5*time.Second)
	setDefault(&c.KeyRotation, 30*24*time.Hour)
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	c.Outbound = outbound.NewPolicy(c.Issuer, c.Outbound.Allow)
	if c.Registration == "" {
		c.Registration = RegistrationOff
	}
	if c.RegistrationOpenLimit == 0 {
		c.RegistrationOpenLimit = DefaultRegistrationOpenLimit
	}
	c.registrationPatterns = c.registrationPatterns[:0]
	for _, p := range c.RegistrationRedirectPatterns {
		if re, err := compileRedirectPattern(p); err == nil { // Validate reports the others
			c.registrationPatterns = append(c.registrationPatterns, re)
		}
	}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// Validate lists every problem with c (call Defaults first).
func (c Config) Validate() []string {
	var probs []string
	if c.Issuer == "" {
		probs = append(probs, "issuer is required")
	} else if u, err := url.Parse(c.Issuer); err != nil {
		probs = append(probs, fmt.Sprintf("issuer %q is not a URL: %v", c.Issuer, err))
	} else {
		if u.Scheme != "http" && u.Scheme != "https" {
			probs = append(probs, fmt.Sprintf("issuer %q must use http or https", c.Issuer))
		}
		if u.Host == "" {
			probs = append(probs, fmt.Sprintf("issuer %q has no host", c.Issuer))
		}
		// OpenID Connect Discovery 1.0 §3: the issuer has no query or fragment.
		if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(c.Issuer, "?#") {
			probs = append(probs, fmt.Sprintf("issuer %q must not have a query or fragment", c.Issuer))
		}
		if u.User != nil {
			probs = append(probs, fmt.Sprintf("issuer %q must not contain user info", c.Issuer))
		}
	}
	for _, p := range []struct{ name, v string }{{"login path", c.LoginPath}, {"logged-out path", c.LoggedOutPath}} {
		if !strings.HasPrefix(p.v, "/") || strings.HasPrefix(p.v, "//") {
			probs = append(probs, fmt.Sprintf("%s %q must be an absolute path starting with a single /", p.name, p.v))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"access token TTL", c.AccessTokenTTL},
		{"ID token TTL", c.IDTokenTTL},
		{"refresh token TTL", c.RefreshTokenTTL},
		{"code TTL", c.CodeTTL},
		{"auth request TTL", c.AuthRequestTTL},
		{"key rotation", c.KeyRotation},
	} {
		if d.v <= 0 {
			probs = append(probs, fmt.Sprintf("%s must be positive, got %s", d.name, d.v))
		}
	}
	if c.ClientCacheSize > 1_000_000 {
		probs = append(probs, fmt.Sprintf("client cache size must be at most 1000000, got %d", c.ClientCacheSize))
	}
	if c.CodeTTL > maxCodeTTL {
		probs = append(probs, fmt.Sprintf("code TTL must be at most %s, got %s", maxCodeTTL, c.CodeTTL))
	}
	if c.Now == nil {
		probs = append(probs, "clock (Now) is required")
	}
	return append(probs, c.registrationProblems()...)
}

// maxTokenLifetime is how long a token signed now may stay valid: a retired
// key stays published at least this long.
func (c Config) maxTokenLifetime() time.Duration {
	return max(c.AccessTokenTTL, c.IDTokenTTL)
}

// DefaultRegistrationOpenLimit is the default RegistrationOpenLimit.
const DefaultRegistrationOpenLimit = 1000

// registrationProblems checks the dynamic client registration settings.
func (c Config) registrationProblems() []string {
	var probs []string
	switch c.Registration {
	case RegistrationOff, RegistrationToken:
	case RegistrationOpen:
		if len(c.RegistrationRedirectPatterns) == 0 {
			probs = append(probs, "open client registration needs at least one redirect URI pattern")
		}
	default:
		probs = append(probs, fmt.Sprintf("client registration must be off, token or open, not %q", c.Registration))
	}
	if c.RegistrationOpenLimit < 0 || c.RegistrationOpenLimit > 1_000_000 {
		probs = append(probs, fmt.Sprintf("the open registration limit must be 1 to 1000000, got %d", c.RegistrationOpenLimit))
	}
	for _, p := range c.RegistrationRedirectPatterns {
		if _, err := compileRedirectPattern(p); err != nil {
			probs = append(probs, err.Error())
		}
	}
	return probs
}
