package idp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/sync/errgroup"

	"github.com/latchkey-idp/latchkey/idp/account"
	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/idp/scim"
	"github.com/latchkey-idp/latchkey/idp/signin"
	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// Server is the Latchkey HTTP application.
type Server struct {
	cfg      Config
	db       *models.DB
	op       *oidc.Provider
	passkeys *passkeys.Service
	public   *echo.Echo
	// publicHandler is public behind the document fast path (documents.go).
	publicHandler http.Handler
	internal      *echo.Echo
	pages         *web.Pages
	sessions      *web.Sessions
	auditor       *web.Auditor
	// The audiences (routes.go lists their routes).
	signin  *signin.Handlers
	account *account.Handlers
	admin   *admin.Handlers
	scim    *scim.Handlers
	// csrf protects the UI routes of the public listener; the console has
	// its own cookie (adminCSRF). Both are web.CSRF.
	csrf, adminCSRF echo.MiddlewareFunc
	// clientCAs, when set, makes the internal listener require client
	// certificates (mTLS).
	clientCAs *x509.CertPool
	// metrics (metrics.go) and instanceID, this server's name as a
	// background-job lease holder (jobs.go).
	metrics    *metrics
	instanceID string
	// mailer queues and sends email (mail.go).
	mailer *mail.Mailer
	// recoveryKey is the MAC key of recovery codes (recoverycodes.go).
	recoveryKey []byte
	// signupCache holds the console's sign-up policy (signup.go).
	signupCache atomic.Pointer[cachedSignupPolicy]
}

// New builds the server. The database must be migrated; sealer holds the
// master key that protects signing keys.
func New(ctx context.Context, cfg Config, db *models.DB, sealer *models.Sealer) (_ *Server, err error) {
	cfg.Defaults()
	if probs := cfg.Validate(); len(probs) > 0 {
		return nil, &ConfigError{Problems: probs}
	}
	pk, err := passkeys.New(cfg.Passkeys, db)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	// Each auth request carries the challenge of its sign-in page
	// (passkeys/bound.go).
	cfg.OIDC.NewLoginChallenge = pk.NewLoginChallenge
	cas, err := loadTLS(&cfg)
	if err != nil {
		return nil, err
	}
	mailer, err := mail.New(cfg.Mail, sealer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, db: db, passkeys: pk, clientCAs: cas, mailer: mailer, metrics: newMetrics(db), instanceID: newInstanceID(),
		sessions:  &web.Sessions{DB: db, TTL: cfg.SessionTTL, Secure: cfg.SecureCookies()},
		auditor:   &web.Auditor{DB: db, Logger: cfg.Logger},
		csrf:      web.CSRF("latchkey_csrf", cfg.SecureCookies()),
		adminCSRF: web.CSRF("latchkey_admin_csrf", admin.Secure(cfg.AdminURL))}
	// Marked running before anything is sealed, then the key confirmed: a
	// `master-key rotate` that runs meanwhile either sees this server and
	// refuses, or has stored its new fingerprint, which this start then
	// refuses (presence.go, models.ConfirmMasterKey).
	if err := s.markRunningAndConfirm(ctx, sealer); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil { // a server that does not start does not stay marked
			s.markStopped()
		}
	}()
	// The provider (with its signing keys: on a first start, an RSA key
	// still being generated) and the page templates do not depend on each
	// other, so they are built at once: the slower, not their sum, is on
	// the start-up path. The admin console client comes after the
	// provider: the provider proves the master key is the right one before
	// anything is sealed with it.
	var g errgroup.Group
	g.Go(func() (err error) {
		oc := cfg.OIDC
		// end_session ends the session of this cookie and clears it.
		oc.SessionCookie = &http.Cookie{Name: s.sessions.CookieName(), Path: "/", HttpOnly: true, //nolint:gosec // G124: HttpOnly and SameSite are set; Secure follows the issuer's scheme (SecureCookies), true whenever the issuer is https
			Secure: s.cfg.SecureCookies(), SameSite: http.SameSiteLaxMode}
		if s.op, err = oidc.New(ctx, oc, db, sealer); err != nil {
			return fmt.Errorf("oidc provider: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		s.pages, err = web.LoadPages(pageNames, nil)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Sealed with the master key: only once the provider has proved it
	// is the right one (a failed start writes nothing).
	if s.recoveryKey, err = loadRecoveryCodeKey(ctx, db, sealer); err != nil { // recoverycodes.go
		return nil, err
	}
	if err := s.pages.Brand.Reload(ctx, s.db); err != nil {
		return nil, err
	}
	s.wire()
	s.wireLanguages()   // languages.go
	s.registerNotices() // mail.go
	if err := s.admin.EnsureClient(ctx, sealer); err != nil {
		return nil, err
	}
	s.public = s.newEcho()
	s.internal = s.newEcho()
	// Every /api/v1 error is JSON in one shape, unrouted ones included.
	s.internal.Pre(web.JSONErrorsUnder("/api/"))
	s.internal.Pre(web.ConsoleEnglish) // the console is English; public pages follow the user's language
	s.public.Pre(web.SCIMErrorsUnder("/scim/"))
	s.mountRoutes() // routes.go
	s.publicHandler = s.documentHandler(s.public)
	// A policy tightened since the last start flags passkeys at once.
	s.reconcilePolicy(ctx)
	return s, nil
}

// pageNames lists every page; a missing file fails start-up.
var pageNames = append(append(append([]string{"message"}, signin.PageNames...), account.PageNames...), admin.PageNames...)

// wire builds the audiences from the server's parts: the one place where
// they meet.
func (s *Server) wire() {
	cfg := s.cfg
	s.signin = signin.New(signin.Deps{DB: s.db, Pages: s.pages, Auditor: s.auditor, Sessions: s.sessions, CSRF: s.csrf,
		Provider: s.op, Passkeys: s.passkeys,
		Config: signin.Config{Signup: s.signupOffered, Issuer: cfg.Issuer, SessionTTL: cfg.SessionTTL, Now: cfg.Now, Logger: cfg.Logger}})
	s.account = account.New(account.Deps{DB: s.db, Pages: s.pages, Auditor: s.auditor, Sessions: s.sessions,
		Passkeys: s.passkeys,
		SignIn: account.SignIn{SessionSignIn: s.signin.SessionSignIn, PasskeyFailure: s.signin.PasskeyFailure,
			RevokeConsent: s.signin.RevokeConsent},
		Config: account.Config{RPID: cfg.Passkeys.RPID, Now: cfg.Now, Logger: cfg.Logger}, Recovery: s.accountRecovery(),
		Profile: s.accountProfile(), Signup: s.accountSignup(), Codes: s.accountRecoveryCodes()}) // profile.go, signup.go, recoverycodes.go
	s.admin = admin.New(admin.Deps{DB: s.db, Pages: s.pages, Auditor: s.auditor, Provider: s.op, Passkeys: s.passkeys,
		IssueSetupLink: func(ctx context.Context, userID, actor string) (string, error) {
			return IssueSetupLink(ctx, s.db, cfg.Issuer, userID, cfg.SetupLinkTTL, actor)
		},
		Config: admin.Config{Issuer: cfg.Issuer, AdminURL: cfg.AdminURL, SessionTTL: cfg.SessionTTL,
			SetupLinkTTL: cfg.SetupLinkTTL, Warning: cfg.MasterKeyWarning, Now: cfg.Now, Logger: cfg.Logger, Outbound: cfg.OIDC.Outbound,
			Registration: cfg.OIDC.Registration},
		Signup: s.adminSignup(), // signup.go
		Mail:   s.adminMail()})  // mail.go
	s.scim = scim.New(scim.Deps{DB: s.db, Config: scim.Config{BaseURL: cfg.Issuer + "/scim/v2", Now: cfg.Now, Logger: cfg.Logger}})
}

// ConfigError lists every configuration problem.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	msg := "invalid configuration:"
	for _, p := range e.Problems {
		msg += "\n  - " + p
	}
	return msg
}

func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The client IP is the socket peer unless trusted proxy ranges are
	// configured, so X-Forwarded-For cannot spoof it (hardening.go).
	e.IPExtractor = s.ipExtractor()
	e.HTTPErrorHandler = web.ErrorHandler(s.pages, s.cfg.Logger)
	e.Use(s.metrics.observeRequests)
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: models.NewUUID}))
	e.Use(web.RequestLogger(s.cfg.Logger, "/healthz", "/readyz"))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableErrorHandler: false, DisablePrintStack: true}))
	e.Use(web.SecurityHeaders(s.cfg.SecureCookies()))
	e.Use(middleware.BodyLimit("1M"))
	return e
}

// PublicHandler serves the public listener (for tests and embedding).
func (s *Server) PublicHandler() http.Handler { return s.publicHandler }

// InternalHandler serves the internal listener.
func (s *Server) InternalHandler() http.Handler { return s.internal }

// Provider exposes the OIDC provider (key rotation from the CLI, tests).
func (s *Server) Provider() *oidc.Provider { return s.op }

// Run serves both listeners until ctx is cancelled, then shuts down
// gracefully. ready, if not nil, is called once both listeners are bound.
func (s *Server) Run(ctx context.Context, ready func(public, internal net.Addr)) error {
	pubLn, err := s.listen(s.cfg.Listen)
	if err != nil {
		return err
	}
	inLn, err := s.listen(s.cfg.InternalListen)
	if err != nil {
		return errors.Join(err, pubLn.Close())
	}
	servers := []*http.Server{s.httpServer(s.publicHandler), s.internalServer()}
	errc := make(chan error, 2)
	for i, ln := range []net.Listener{pubLn, inLn} {
		go func(srv *http.Server, ln net.Listener) {
			var err error
			if s.cfg.TLSCert != "" {
				err = srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
			} else {
				err = srv.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(servers[i], ln)
	}
	s.markRunning(ctx) // presence.go
	jobsDone := make(chan struct{})
	go func() { s.presenceJob(ctx); close(jobsDone) }()
	go s.backgroundJobs(ctx)
	go s.policyJobs(ctx)
	go s.backchannelJobs(ctx) // jobs.go
	go s.brandingJobs(ctx)
	go s.purgeJobs(ctx)
	go s.mailJobs(ctx) // mail.go
	if ready != nil {
		ready(pubLn.Addr(), inLn.Addr())
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutCtx)
	}
	if ctx.Err() == nil {
		// A listener failed: the presence job still runs until ctx ends,
		// so its mark is left to expire.
		return err
	}
	<-jobsDone
	s.markStopped()
	return err
}

func (s *Server) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// TLS 1.2 suites limited to AEAD with forward secrecy; TLS 1.3
			// suites are always AEAD and preferred by Go.
			CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			},
		},
		ErrorLog: nil,
	}
}

// backgroundJobs runs the maintenance jobs (hardening.go) periodically:
// key rotation. The purge of expired rows runs on its own (jobs.go).
func (s *Server) backgroundJobs(ctx context.Context) {
	// Once per round across instances: a database lease (jobs.go).
	every(ctx, maintenanceEvery, true, func() { s.runLeased(ctx, "maintenance", leaseFor(maintenanceEvery), s.maintain) })
}

func (s *Server) handleHealthGet(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadinessGet(c echo.Context) error {
	status, ok := s.readiness(c.Request().Context()) // metrics.go
	if !ok {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": status})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": status})
}
