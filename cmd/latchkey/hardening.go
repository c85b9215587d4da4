package main

import (
	"time"

	"github.com/latchkey-idp/latchkey/idp"
)

// hardeningFlags are the serve flags of TLS deployment, rate limits, audit
// retention and key rotation.
type hardeningFlags struct {
	InternalClientCA string        `name:"internal-client-ca" help:"PEM file of CA certificates: the internal listener then requires a client certificate signed by one (mTLS). Needs --tls-cert." env:"LATCHKEY_INTERNAL_CLIENT_CA" placeholder:"FILE"`
	BehindTLSProxy   bool          `name:"behind-tls-proxy" help:"A proxy in --trusted-proxies terminates TLS for the https issuer (no --tls-cert here)." env:"LATCHKEY_BEHIND_TLS_PROXY"`
	TrustedProxies   []string      `name:"trusted-proxies" help:"CIDRs of reverse proxies whose X-Forwarded-For gives the client IP (default: none, the socket peer is the client)." env:"LATCHKEY_TRUSTED_PROXIES" sep:"," placeholder:"CIDR,..."`
	RateLimits       bool          `name:"rate-limits" help:"Rate-limit sign-in, setup links, the token endpoint, the admin API, SCIM and recovery per client IP (--no-rate-limits turns them off)." default:"true" negatable:"" env:"LATCHKEY_RATE_LIMITS"`
	RateLimit        []string      `name:"rate-limit" help:"Override one limit as GROUP=N/WINDOW (groups: login, setup, token, admin_api, scim, recovery, signup), e.g. login=60/1m (repeatable)." env:"LATCHKEY_RATE_LIMIT" sep:"," placeholder:"GROUP=N/WINDOW"`
	AuditRetention   time.Duration `name:"audit-retention" help:"How long audit events are kept." default:"8760h" env:"LATCHKEY_AUDIT_RETENTION"`
	Pprof            bool          `name:"pprof" help:"Serve Go's pprof profiles at /debug/pprof/ on the internal listener (off by default; for load tests and diagnosis)." env:"LATCHKEY_PPROF"`
	KeyRotation      time.Duration `name:"key-rotation" help:"Signing key rotation period; the next key is published in JWKS a day (at most a quarter period) before it signs." default:"720h" env:"LATCHKEY_KEY_ROTATION"`
}

// apply copies the flags into cfg and returns the problems of flags that
// do not parse.
func (h *hardeningFlags) apply(cfg *idp.Config) []string {
	var probs []string
	cfg.InternalClientCA = h.InternalClientCA
	cfg.BehindTLSProxy = h.BehindTLSProxy
	cfg.TrustedProxies = h.TrustedProxies
	cfg.AuditRetention = h.AuditRetention
	cfg.Pprof = h.Pprof
	cfg.OIDC.KeyRotation = h.KeyRotation
	cfg.RateLimits.Disabled = !h.RateLimits
	for _, spec := range h.RateLimit {
		group, l, err := idp.ParseRateLimit(spec)
		if err != nil {
			probs = append(probs, err.Error())
			continue
		}
		if cfg.RateLimits.Limits == nil {
			cfg.RateLimits.Limits = map[string]idp.RateLimit{}
		}
		cfg.RateLimits.Limits[group] = l
	}
	return probs
}
