package idp

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/oidc"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// Config configures a Server. cmd builds it from flags and env; tests build
// it directly.
type Config struct {
	// Issuer is the public base URL; its host is the default WebAuthn RP ID
	// and its origin the default allowed WebAuthn origin.
	Issuer         string
	Listen         string // public listener, default ":8080"
	InternalListen string // admin/metrics listener, default "127.0.0.1:8081"
	// AdminURL is the base URL at which browsers reach the admin console on
	// the internal listener (the built-in console client's redirect URI is
	// AdminURL + "/admin/callback"). Default: http(s)://localhost:PORT of
	// InternalListen (adminDefaults).
	AdminURL string
	TLSCert  string
	TLSKey   string
	// InternalClientCA is a PEM file of CA certificates; when set, the
	// internal listener requires a client certificate signed by one (mTLS).
	InternalClientCA string
	// BehindTLSProxy allows an https issuer without a certificate: a
	// TLS-terminating proxy in TrustedProxies serves https.
	BehindTLSProxy bool
	// TrustedProxies are CIDRs whose X-Forwarded-For header is believed
	// for the client IP; empty means the socket peer is the client.
	TrustedProxies []string
	RateLimits     RateLimits    // per client IP and route group (ratelimit.go)
	AuditRetention time.Duration // audit events are kept this long, default 365 days
	Pprof          bool          // serve /debug/pprof/ on the internal listener
	SessionTTL     time.Duration // browser session lifetime, default 12h
	SetupLinkTTL   time.Duration // one-time setup links, default 24h
	// MasterKeyWarning, when set, is shown on every admin console page
	// (the master key is inside the data directory).
	MasterKeyWarning string
	// DisableSCIM turns the SCIM service provider (/scim/v2 on the
	// public listener, idp/scim) off: serve --scim=off.
	DisableSCIM bool
	OIDC        oidc.Config
	Passkeys    passkeys.Config
	Now         func() time.Time
	Logger      *slog.Logger
	// Mail is email delivery (--smtp-url, --smtp-from): invitations and
	// notices (mail.go).
	Mail mail.Config
	// Recovery is self-service recovery: RecoveryEmail (the default; it
	// works only with Mail.SMTP) or RecoveryOff (recovery.go).
	Recovery string
	// Signup is the sign-up policy: SignupClosed (""), SignupInvite or
	// SignupOpen, the last for the email domains of SignupDomains
	// (signup.go).
	Signup        string
	SignupDomains []string
}

// Defaults fills zero values and derives the WebAuthn RP ID and origin from
// the issuer when they are not set explicitly.
func (c *Config) Defaults() {
	if c.Issuer == "" {
		c.Issuer = "http://localhost:8080"
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.InternalListen == "" {
		c.InternalListen = "127.0.0.1:8081"
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.SetupLinkTTL == 0 {
		c.SetupLinkTTL = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.OIDC.Issuer = c.Issuer
	c.OIDC.LoginPath = "/login"
	c.OIDC.LoggedOutPath = "/logged-out"
	c.OIDC.Now = c.Now
	c.OIDC.Defaults()
	c.hardeningDefaults()
	c.adminDefaults()
	if u, err := url.Parse(c.Issuer); err == nil {
		if c.Passkeys.RPID == "" {
			c.Passkeys.RPID = u.Hostname()
		}
		if len(c.Passkeys.RPOrigins) == 0 && u.Scheme != "" && u.Host != "" {
			c.Passkeys.RPOrigins = []string{u.Scheme + "://" + u.Host}
		}
	}
	if c.Passkeys.RPDisplayName == "" {
		c.Passkeys.RPDisplayName = "Latchkey"
	}
	c.mailDefaults() // mail.go
}

// Validate returns every problem with the configuration at once, so the
// operator fixes them in one go. Call Defaults first.
func (c *Config) Validate() []string {
	var probs []string
	add := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }
	u, err := url.Parse(c.Issuer)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		add("issuer %q must be an absolute http or https URL", c.Issuer)
	case u.RawQuery != "" || u.Fragment != "":
		add("issuer %q must not have a query or fragment (OpenID Connect Discovery §3)", c.Issuer)
	default:
		if net.ParseIP(u.Hostname()) != nil && c.Passkeys.RPID == u.Hostname() {
			add("issuer host %q is an IP address, which WebAuthn refuses as an RP ID; use a DNS name such as http://localhost:8080", u.Hostname())
		}
		if c.Passkeys.RPID != "" && !hostWithin(u.Hostname(), c.Passkeys.RPID) {
			add("RP ID %q must equal the issuer host %q or be a parent domain of it (WebAuthn §5.1.3)", c.Passkeys.RPID, u.Hostname())
		}
		origin := u.Scheme + "://" + u.Host
		found := false
		for _, o := range c.Passkeys.RPOrigins {
			found = found || o == origin
		}
		if !found {
			add("allowed origins %v must include the issuer origin %q, where the sign-in page is served", c.Passkeys.RPOrigins, origin)
		}
		if u.Scheme == "http" && c.TLSCert != "" {
			add("TLS certificate given but the issuer %q is http; use an https issuer", c.Issuer)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		add("--tls-cert and --tls-key must be given together")
	}
	for name, addr := range map[string]string{"listen": c.Listen, "internal-listen": c.InternalListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			add("%s address %q is not host:port", name, addr)
		}
	}
	if c.Listen == c.InternalListen {
		add("listen and internal-listen must differ (both %q): the admin console must never be on the public port", c.Listen)
	}
	if c.SessionTTL <= 0 {
		add("session lifetime must be positive")
	}
	if c.SetupLinkTTL <= 0 {
		add("setup link lifetime must be positive")
	}
	probs = append(probs, c.validateHardening()...)
	probs = append(probs, c.validateAdmin()...)
	probs = append(probs, c.OIDC.Validate()...)
	probs = append(probs, c.Passkeys.Validate()...)
	probs = append(probs, c.validateMail()...)   // mail.go
	probs = append(probs, c.validateSignup()...) // signup.go
	return probs
}

func hostWithin(host, rpID string) bool {
	host, rpID = strings.ToLower(host), strings.ToLower(rpID)
	return host == rpID || strings.HasSuffix(host, "."+rpID)
}

// SecureCookies reports whether cookies get Secure and the __Host- prefix.
func (c *Config) SecureCookies() bool { return strings.HasPrefix(c.Issuer, "https://") }

func (c *Config) adminDefaults() {
	if c.AdminURL == "" {
		host, port, err := net.SplitHostPort(c.InternalListen)
		if err != nil {
			return // Validate reports the listen address
		}
		if host == "" || host == "127.0.0.1" || host == "::1" || host == "0.0.0.0" || host == "::" {
			host = "localhost" // what a browser on this machine can reach
		}
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		c.AdminURL = scheme + "://" + net.JoinHostPort(host, port)
	}
	c.AdminURL = strings.TrimRight(c.AdminURL, "/")
}

func (c *Config) validateAdmin() []string {
	u, err := url.Parse(c.AdminURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.RawQuery != "" {
		return []string{fmt.Sprintf("admin URL %q must be an absolute http or https URL without a path", c.AdminURL)}
	}
	return nil
}
