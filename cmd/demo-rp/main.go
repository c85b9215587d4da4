// Command demo-rp is a tiny relying application that signs users in through
// Latchkey (or any OpenID Connect provider) and shows what it received: the ID
// token claims, the userinfo response and whether a refresh token came back.
//
// It uses only github.com/coreos/go-oidc/v3, golang.org/x/oauth2 and the
// standard library, so it doubles as an independent check of the provider.
// State is kept in process memory; it is a demo, not a template for production.
//
// Flow (authorization code + PKCE S256, OpenID Connect Core 1.0 §3.1):
//
//	GET  /          sign-in link, or the signed-in view
//	GET  /login     new state, nonce and PKCE verifier → redirect to authorize
//	GET  /callback  check state → exchange code → verify ID token and nonce → userinfo
//	POST /refresh   refresh_token grant (CSRF token required)
//	GET  /logout    confirmation page with a sign-out button
//	POST /logout    RP-initiated logout at end_session_endpoint (CSRF token required)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const defaultScopes = "openid profile email groups offline_access"

func main() { os.Exit(mainCode()) }

// mainCode runs the program and returns its exit code, after its deferred
// calls have run.
func mainCode() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "demo-rp:", err)
		return 1
	}
	return 0
}

// run parses args, serves until ctx is cancelled and then shuts down gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseFlags(args, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Logger = log

	srv, err := newServer(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}

	// Discovery is attempted once at start so misconfiguration shows early; if
	// the issuer is not up yet, the first request that needs it retries.
	go func() {
		if _, err := srv.provider(ctx); err != nil {
			log.Warn("provider discovery failed; will retry on first sign-in", "issuer", cfg.Issuer, "err", err)
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("demo-rp listening", "addr", ln.Addr().String(), "open", srv.baseURL, "issuer", cfg.Issuer, "client_id", cfg.ClientID)
	if _, port, err := net.SplitHostPort(cfg.Listen); err == nil && port != "0" && port != srv.redirectPort() {
		log.Warn("--listen port differs from the --redirect-url port; the provider will redirect elsewhere", "listen", cfg.Listen, "redirect_url", cfg.RedirectURL)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// parseFlags reads the command line; every flag defaults to its DEMO_* env twin.
func parseFlags(args []string, lookupEnv func(string) (string, bool), output io.Writer) (config, error) {
	env := func(key, def string) string {
		if v, ok := lookupEnv(key); ok && v != "" {
			return v
		}
		return def
	}
	var cfg config
	var scopes string
	fs := flag.NewFlagSet("demo-rp", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.Issuer, "issuer", env("DEMO_ISSUER", "http://localhost:8080"), "OpenID provider issuer URL (env DEMO_ISSUER)")
	fs.StringVar(&cfg.ClientID, "client-id", env("DEMO_CLIENT_ID", ""), "OAuth client ID, required (env DEMO_CLIENT_ID)")
	fs.StringVar(&cfg.ClientSecret, "client-secret", env("DEMO_CLIENT_SECRET", ""), "OAuth client secret; empty for a public client (env DEMO_CLIENT_SECRET)")
	fs.StringVar(&cfg.Listen, "listen", env("DEMO_LISTEN", "localhost:9090"), "listen address (env DEMO_LISTEN)")
	fs.StringVar(&cfg.RedirectURL, "redirect-url", env("DEMO_REDIRECT_URL", "http://localhost:9090/callback"), "registered redirect URI; its origin + \"/\" is the post-logout redirect URI (env DEMO_REDIRECT_URL)")
	fs.StringVar(&scopes, "scopes", env("DEMO_SCOPES", defaultScopes), "space-separated scopes to request (env DEMO_SCOPES)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg.Scopes = strings.FieldsFunc(scopes, func(r rune) bool { return r == ' ' || r == ',' })
	return cfg, nil
}
