package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/internal/command"

	"github.com/latchkey-idp/latchkey/idp"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
	"github.com/latchkey-idp/latchkey/passkeys"
)

type serveCmd struct {
	AcceptNewIssuer bool          `name:"accept-new-issuer" help:"Start although --issuer names another host than the one the database was served at (passkeys made for the old host stop working)." env:"LATCHKEY_ACCEPT_NEW_ISSUER"`
	recorded        string        // the recorded issuer, when --issuer is not given
	Listen          string        `help:"Public listener (OIDC endpoints, sign-in pages)." default:":8080" env:"LATCHKEY_LISTEN" placeholder:"ADDR"`
	InternalListen  string        `help:"Internal listener (admin, health); keep it private." default:"127.0.0.1:8081" env:"LATCHKEY_INTERNAL_LISTEN" placeholder:"ADDR"`
	AdminURL        string        `name:"admin-url" help:"Base URL at which browsers reach the admin console on the internal listener (default: http(s)://localhost:PORT of --internal-listen)." env:"LATCHKEY_ADMIN_URL" placeholder:"URL"`
	TLSCert         string        `name:"tls-cert" help:"TLS certificate file (PEM) for both listeners." env:"LATCHKEY_TLS_CERT" placeholder:"FILE"`
	TLSKey          string        `name:"tls-key" help:"TLS private key file (PEM)." env:"LATCHKEY_TLS_KEY" placeholder:"FILE"`
	RPID            string        `name:"rp-id" help:"WebAuthn RP ID (default: the issuer host)." env:"LATCHKEY_RP_ID"`
	RPOrigins       []string      `name:"rp-origin" help:"Allowed WebAuthn origin(s) (default: the issuer origin)." env:"LATCHKEY_RP_ORIGINS" sep:","`
	AccessTokenTTL  time.Duration `name:"access-token-ttl" help:"Access token lifetime." default:"10m" env:"LATCHKEY_ACCESS_TOKEN_TTL"`
	IDTokenTTL      time.Duration `name:"id-token-ttl" help:"ID token lifetime." default:"1h" env:"LATCHKEY_ID_TOKEN_TTL"`
	RefreshTokenTTL time.Duration `name:"refresh-token-ttl" help:"Refresh token lifetime." default:"720h" env:"LATCHKEY_REFRESH_TOKEN_TTL"`
	SessionTTL      time.Duration `name:"session-ttl" help:"Browser session lifetime." default:"12h" env:"LATCHKEY_SESSION_TTL"`
	ClientCache     int           `name:"client-cache-size" help:"Clients kept in memory for one second (0: none)." default:"1024" env:"LATCHKEY_CLIENT_CACHE_SIZE"`
	SCIM            string        `name:"scim" help:"The SCIM 2.0 service provider at /scim/v2 on the public listener (on: it answers only SCIM tokens; off: not served)." default:"on" enum:"on,off" env:"LATCHKEY_SCIM"`
	RefreshGrace    time.Duration `name:"refresh-reuse-grace" help:"How long after a refresh its client may retry with the same refresh token (a lost response) and get a new pair instead of the family being revoked (0: never)." default:"5s" env:"LATCHKEY_REFRESH_REUSE_GRACE"`
	hardeningFlags
	policyFlags
	protocolFlags
	mailFlags // mail.go
}

// clientCacheSize maps the flag (0: none) to oidc.Config's (0: the
// default, negative: none); buildConfig refuses a negative flag.
func clientCacheSize(flag int) int {
	if flag == 0 {
		return -1
	}
	return flag
}

// refreshReuseGrace maps the flag (0: none) to oidc.Config's (0: the
// default, negative: none); buildConfig refuses a negative flag.
func refreshReuseGrace(flag time.Duration) time.Duration {
	if flag == 0 {
		return -1
	}
	return flag
}

// config builds idp.Config from the global and serve flags.
func (s *serveCmd) config(e *env) idp.Config {
	return idp.Config{
		Issuer: s.issuer(e), Listen: s.Listen, InternalListen: s.InternalListen, AdminURL: s.AdminURL,
		TLSCert: s.TLSCert, TLSKey: s.TLSKey, SessionTTL: s.SessionTTL, SetupLinkTTL: e.cli.SetupLinkTTL,
		OIDC: oidc.Config{AccessTokenTTL: s.AccessTokenTTL, IDTokenTTL: s.IDTokenTTL, RefreshTokenTTL: s.RefreshTokenTTL,
			ClientCacheSize: clientCacheSize(s.ClientCache), RefreshReuseGrace: refreshReuseGrace(s.RefreshGrace)},
		Passkeys:    passkeys.Config{RPID: s.RPID, RPOrigins: s.RPOrigins},
		DisableSCIM: s.SCIM == "off",
		Logger:      e.log,
	}
}

// buildConfig is config plus the hardening flags; problems with those
// flags are reported together with Validate's.
func (s *serveCmd) buildConfig(e *env) (idp.Config, []string) {
	cfg := s.config(e)
	probs := s.hardeningFlags.apply(&cfg)
	if s.ClientCache < 0 {
		probs = append(probs, fmt.Sprintf("--client-cache-size must be 0 (none) or positive, got %d", s.ClientCache))
	}
	if s.RefreshGrace < 0 || s.RefreshGrace > time.Minute {
		probs = append(probs, fmt.Sprintf("--refresh-reuse-grace must be from 0 (none) to 1m, got %s", s.RefreshGrace))
	}
	s.policyFlags.apply(&cfg)
	s.protocolFlags.apply(&cfg)
	probs = append(probs, s.mailFlags.apply(&cfg)...)
	if pol, err := e.outboundPolicy(cfg.Issuer); err != nil {
		probs = append(probs, err.Error())
	} else {
		cfg.OIDC.Outbound.Allow = pol.Allow
	}
	cfg.Defaults()
	return cfg, append(probs, cfg.Validate()...)
}

// issuer is --issuer, else the recorded issuer that Run has put into
// s.recorded, else defaultIssuer.
func (s *serveCmd) issuer(e *env) string {
	switch {
	case e.cli.Issuer != "":
		return e.cli.Issuer
	case s.recorded != "":
		return s.recorded
	}
	return defaultIssuer
}

// checkIssuer compares the issuer with the one the database was last
// served at. Passkeys are bound to the RP ID, the issuer's host (WebAuthn
// Level 3 §5.1.3 step 7, §7.2 step 15: the rpIdHash must match), so a
// start on another host would leave every user with passkeys that no
// longer work: it is refused unless --accept-new-issuer says it is meant.
// Without --issuer the recorded issuer is used, and cfg is built again.
func (s *serveCmd) checkIssuer(ctx context.Context, e *env, db *models.DB, cfg idp.Config) (idp.Config, error) {
	recorded, err := db.RecordedIssuer(ctx)
	if err != nil || recorded == "" {
		return cfg, err
	}
	if e.cli.Issuer == "" {
		s.recorded = recorded
		cfg, probs := s.buildConfig(e)
		if len(probs) > 0 {
			return cfg, &idp.ConfigError{Problems: probs}
		}
		return cfg, nil
	}
	was, now := issuerHost(recorded), issuerHost(cfg.Issuer)
	if strings.EqualFold(was, now) || s.AcceptNewIssuer {
		return cfg, nil
	}
	return cfg, fmt.Errorf("this installation was served at %s and --issuer is %s: passkeys are bound to the host %q (the WebAuthn RP ID) and would stop working on %q; "+
		"start with --issuer %s, or pass --accept-new-issuer if the host is meant to change (users then need new passkeys: `latchkey users setup-link USERNAME`)",
		recorded, cfg.Issuer, was, now, recorded)
}

// issuerHost is the host of an issuer URL (validated before it is used or
// recorded; the raw string if it does not parse).
func issuerHost(issuer string) string {
	if u, err := url.Parse(issuer); err == nil {
		return u.Hostname()
	}
	return issuer
}

func (s *serveCmd) Run(ctx context.Context, e *env) (err error) {
	start := time.Now()
	cfg, probs := s.buildConfig(e)
	if len(probs) > 0 {
		return &idp.ConfigError{Problems: probs}
	}
	// A first start makes its RSA key while the migrations run: with two
	// searches on SQLite, whose migrations take little CPU, one on
	// Postgres, whose DDL needs the other core (oidc.PrewarmKeys).
	db, err := e.openDBWith(ctx, func(db *models.DB) {
		if db.IsPostgres() {
			oidc.PrewarmKeys(1)
		} else {
			oidc.PrewarmKeys(2)
		}
	})
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	// The key is looked for once the database says which one it needs
	// (masterkey.go): no key is made for a database sealed with another.
	if cfg, err = s.checkIssuer(ctx, e, db, cfg); err != nil {
		return err
	}
	sealer, mk, err := e.sealer(ctx, db)
	if err != nil {
		return err
	}
	if err := db.RecordIssuer(ctx, cfg.Issuer, "serve"); err != nil {
		return err
	}
	if mk.inDataDir {
		cfg.MasterKeyWarning = masterKeyInDataDirWarning
	}
	srv, err := idp.New(ctx, cfg, db, sealer)
	if err != nil {
		return err
	}
	link, err := idp.BootstrapAdmin(ctx, db, cfg.Issuer, cfg, e.term != nil)
	if err != nil {
		return err
	}
	return srv.Run(ctx, func(pub, internal net.Addr) {
		e.log.Info("latchkey ready", "issuer", cfg.Issuer, "console", cfg.AdminURL+"/admin", "public", pub.String(), "internal", internal.String(),
			"startup", time.Since(start).Round(time.Millisecond).String())
		e.showBootstrapLink(link, cfg.SetupLinkTTL, cfg.AdminURL+"/admin")
	})
}

// showBootstrapLink shows the first admin's one-time setup link on the
// terminal and logs only that it was issued, for whom and until when: the
// link is a credential, and logs are collected, shipped and kept. Without
// a terminal no link is issued and the log says how to get one.
func (e *env) showBootstrapLink(link *idp.SetupLink, ttl time.Duration, console string) {
	switch {
	case link == nil:
	case link.URL == "" || e.term == nil:
		e.log.Warn("no admin has a passkey yet and there is no terminal to show a setup link on; run `latchkey users setup-link "+
			link.Username+"` (docker: `docker compose exec latchkey latchkey users setup-link "+link.Username+"`) to print one",
			"user", link.Username, "user_id", link.UserID)
	default:
		fmt.Fprintf(e.term, "\n%s\n  No admin has a passkey yet. Open this one-time link to create the first admin's passkey\n  (valid %s, works once; a restart issues a new one):\n\n  %s\n\n  Then sign in to the admin console with that passkey:\n\n  %s\n%s\n\n",
			strings.Repeat("=", 78), ttl, link.URL, console, strings.Repeat("=", 78))
		e.log.Info("one-time setup link issued and shown on the terminal", "user", link.Username, "user_id", link.UserID,
			"expires_at", link.ExpiresAt.UTC().Format(time.RFC3339))
	}
}
