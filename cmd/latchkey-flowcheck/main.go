// Command latchkey-flowcheck measures complete passkey sign-ins against a
// running Latchkey the way an outside relying party and browser see them,
// to confirm (or refute) what `latchkey-bench flow` reports. It shares no
// code with the bench tool or internal/flowclient: the relying party is
// github.com/coreos/go-oidc/v3 (discovery, ID token verification) with
// golang.org/x/oauth2 (authorization code with PKCE S256), the browser is
// net/http with a fresh cookie jar per flow, and the authenticator is
// passkeys/passkeytest. Its client and users are created through the admin
// API (/api/v1 on the internal listener, with an API token), and each
// user's passkey through the setup link that API returns, with the same
// requests static/setup.js makes.
//
// One flow: /authorize (code, PKCE S256, state, nonce) → sign-in page →
// the page's own passkey challenge answered at /login/passkey/finish →
// /authorize/callback → redirect to the client with the code → token
// exchange → go-oidc verifies the ID token (signature, issuer, audience,
// expiry, nonce, at_hash when present). With --userinfo-refresh a flow
// also calls /userinfo and redeems its refresh token once, the two steps
// `latchkey-bench flow` adds. Every status is checked; any deviation
// counts the flow as an error.
//
// It reports flows per second, errors by kind, p50/p95/p99 of a whole
// flow, the server's CPU seconds per flow (process_cpu_seconds_total on
// the internal /metrics, scraped before and after the measured time, or
// /proc/PID/stat with --server-pid) and the machine's load average.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	Issuer     string
	Internal   string
	APIToken   string
	Users      int
	C          int
	Duration   time.Duration
	Warmup     time.Duration
	IDTokenAlg string
	ServerPID  int
	Extras     bool
	JSON       bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without signals and exit, so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "latchkey-flowcheck:", err)
		return 2
	}
	res, err := check(ctx, o, stderr, nil)
	if err != nil {
		fmt.Fprintln(stderr, "latchkey-flowcheck:", err)
		return 1
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1
		}
	} else {
		res.print(stdout)
	}
	if res.Flows == 0 || res.Errors > 0 {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("latchkey-flowcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: latchkey-flowcheck --api-token lk_… [flags]")
		fmt.Fprintln(stderr, "Complete passkey sign-ins against a running Latchkey, measured by an independent relying party (go-oidc + x/oauth2).")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Issuer, "issuer", envOr("LATCHKEY_ISSUER", "http://localhost:8080"), "the server's public base URL (its issuer; env LATCHKEY_ISSUER)")
	fs.StringVar(&o.Internal, "internal", "http://127.0.0.1:8081", "base URL of the server's internal listener (admin API, /metrics)")
	fs.StringVar(&o.APIToken, "api-token", os.Getenv("LATCHKEY_API_TOKEN"), "admin API token (env LATCHKEY_API_TOKEN; `latchkey api-token add`)")
	fs.IntVar(&o.Users, "users", 0, "users to create, each with its own passkey (default and minimum: -c)")
	fs.IntVar(&o.C, "c", 16, "concurrent browsers, each signing in its own user")
	fs.DurationVar(&o.Duration, "d", 10*time.Second, "measured time")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured time before it")
	fs.StringVar(&o.IDTokenAlg, "id-token-alg", "ES256", "ID token algorithm of the client it registers (RS256 or ES256)")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "PID of the server: CPU time from /proc/PID/stat instead of /metrics")
	fs.BoolVar(&o.Extras, "userinfo-refresh", false, "after the ID token, also call /userinfo and refresh once (offline_access), as latchkey-bench flow does")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.Issuer, o.Internal = strings.TrimRight(o.Issuer, "/"), strings.TrimRight(o.Internal, "/")
	switch {
	case o.APIToken == "":
		return nil, errors.New("--api-token (or LATCHKEY_API_TOKEN) is required: create one with `latchkey api-token add` or on the console's API tokens page")
	case o.C < 1 || o.Duration <= 0 || o.Warmup < 0 || o.Users < 0:
		return nil, errors.New("-c and -d must be positive, --users and --warmup not negative")
	case o.IDTokenAlg != "RS256" && o.IDTokenAlg != "ES256":
		return nil, fmt.Errorf("--id-token-alg %q: RS256 or ES256", o.IDTokenAlg)
	}
	o.Users = max(o.Users, o.C)
	return o, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
