package idp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

// defaultAuditRetention is how long audit events are kept by default.
const defaultAuditRetention = 365 * 24 * time.Hour

// maintenanceEvery is the period of the background maintenance job: expired
// rows, audit retention, rate-limit counters and scheduled key rotation.
const maintenanceEvery = 5 * time.Minute

func (c *Config) hardeningDefaults() {
	if c.AuditRetention == 0 {
		c.AuditRetention = defaultAuditRetention
	}
	c.RateLimits.defaults()
}

// validateHardening checks the TLS, proxy, mTLS, rate-limit and retention
// settings; Validate adds its problems to the others.
func (c *Config) validateHardening() []string {
	var probs []string
	add := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }
	u, err := url.Parse(c.Issuer)
	https := err == nil && u.Scheme == "https"
	for _, cidr := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			add("trusted proxy range %q is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32", cidr)
		}
	}
	switch {
	case c.BehindTLSProxy && len(c.TrustedProxies) == 0:
		add("--behind-tls-proxy needs --trusted-proxies: the address ranges of the proxy that terminates TLS")
	case c.BehindTLSProxy && err == nil && u.Scheme == "http":
		add("--behind-tls-proxy is set but the issuer %q is http; use the https URL the proxy serves", c.Issuer)
	case https && c.TLSCert == "" && !c.BehindTLSProxy:
		// Passkeys and __Host- cookies are bound to the https origin: an
		// https issuer served as plain http cannot work and must not start.
		add("the issuer %q is https but no certificate is configured: give --tls-cert and --tls-key, or --behind-tls-proxy with --trusted-proxies when a proxy terminates TLS", c.Issuer)
	}
	if c.InternalClientCA != "" && c.TLSCert == "" {
		add("--internal-client-ca needs --tls-cert and --tls-key: client certificates are only checked over TLS")
	}
	if c.OIDC.KeyRotation > 0 && c.OIDC.KeyRotation < time.Hour {
		// The next key is published a quarter period ahead; RPs may cache
		// JWKS for 5 minutes, so shorter periods risk unknown kids.
		add("key rotation must be at least 1h, got %s", c.OIDC.KeyRotation)
	}
	if c.AuditRetention < 0 {
		add("audit retention must be positive, got %s", c.AuditRetention)
	}
	probs = append(probs, c.RateLimits.validate()...)
	return probs
}

// ipExtractor returns how echo finds the client IP: the socket peer, or
// with trusted proxy ranges the right-most X-Forwarded-For address that is
// not a trusted proxy. Loopback and private ranges are not trusted unless
// listed (echo trusts them by default).
func (s *Server) ipExtractor() echo.IPExtractor {
	if len(s.cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, cidr := range s.cfg.TrustedProxies {
		if _, n, err := net.ParseCIDR(cidr); err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// loadTLS checks at start-up that the certificate and key load, and loads
// the client CA pool for the internal listener's mTLS.
func loadTLS(cfg *Config) (*x509.CertPool, error) {
	if cfg.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
	}
	if cfg.InternalClientCA == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(cfg.InternalClientCA)
	if err != nil {
		return nil, fmt.Errorf("internal client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("internal client CA: no PEM certificate in " + cfg.InternalClientCA)
	}
	return pool, nil
}

// internalServer is the internal listener's server: like the public one,
// and with a client CA it refuses every TLS handshake without a valid
// client certificate, so the admin console and API cannot even be reached.
func (s *Server) internalServer() *http.Server {
	srv := s.httpServer(s.internal)
	if s.clientCAs != nil {
		srv.TLSConfig.ClientCAs = s.clientCAs
		srv.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return srv
}

// maintain runs the periodic jobs once; a failing job is logged and does
// not stop the others.
func (s *Server) maintain(ctx context.Context) {
	log := s.cfg.Logger
	if err := s.op.MaintainKeys(ctx); err != nil {
		log.Error("signing key rotation", "err", err)
	}
}
