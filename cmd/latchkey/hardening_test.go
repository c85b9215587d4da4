package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/command"

	"github.com/alecthomas/kong"
)

func TestCLIServeRefusesHTTPSWithoutTLS(t *testing.T) {
	code, _, errOut := cliRun(t, t.TempDir(), "serve", "--issuer", "https://id.example.com", "--trusted-proxies", "10.0.0.0/33",
		"--rate-limit", "login=many/1m", "--rate-limit", "bogus=1/1m", "--internal-client-ca", "ca.pem")
	if code == 0 {
		t.Fatal("serve started with an https issuer and no way to serve https")
	}
	for _, want := range []string{"no certificate", "10.0.0.0/33", `"many" is not a number`, `group "bogus"`, "--internal-client-ca needs"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error output lacks %q:\n%s", want, errOut)
		}
	}
}

func TestHardeningFlagsAndEnv(t *testing.T) {
	t.Setenv("LATCHKEY_TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.0/24")
	t.Setenv("LATCHKEY_BEHIND_TLS_PROXY", "true")
	t.Setenv("LATCHKEY_RATE_LIMIT", "login=5/10s,token=7/1m")
	t.Setenv("LATCHKEY_KEY_ROTATION", "240h")
	t.Setenv("LATCHKEY_AUDIT_RETENTION", "2160h")
	var got *serveCmd
	var genv *env
	parse := func(args ...string) {
		t.Helper()
		c, e := parseForTest(t, args...)
		got, genv = &c.Serve, e
	}
	parse("serve", "--issuer", "https://id.example.com")
	cfg, probs := got.buildConfig(genv)
	if len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	if !cfg.BehindTLSProxy || len(cfg.TrustedProxies) != 2 || cfg.RateLimits.Disabled ||
		cfg.RateLimits.Limits["login"].Requests != 5 || cfg.RateLimits.Limits["token"].Requests != 7 ||
		cfg.RateLimits.Limits["setup"].Requests == 0 || cfg.OIDC.KeyRotation.Hours() != 240 || cfg.AuditRetention.Hours() != 2160 {
		t.Fatalf("config from env: %+v", cfg)
	}
	parse("serve", "--issuer", "https://id.example.com", "--no-rate-limits")
	if cfg, _ := got.buildConfig(genv); !cfg.RateLimits.Disabled {
		t.Fatal("--no-rate-limits did not turn them off")
	}
}

// parseForTest parses args like run does, without running the command.
func parseForTest(t *testing.T, args ...string) (*cli, *env) {
	t.Helper()
	var c cli
	parser, err := kong.New(&c, kong.Name("latchkey"), kong.Configuration(kong.JSON), kong.Exit(func(int) {}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(append(args, "--data-dir", t.TempDir())); err != nil {
		t.Fatal(err)
	}
	return &c, &env{cli: &c, log: command.NewLogger("error", "text", io.Discard)}
}

// TestServeHelpDoesNotServe: `serve --help` prints the flags (including
// the hardening ones) and returns instead of starting a server.
func TestServeHelpDoesNotServe(t *testing.T) {
	done := make(chan struct{})
	var code int
	var out string
	go func() {
		code, out, _ = cliRun(t, t.TempDir(), "serve", "--help", "--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("serve --help started a server")
	}
	for _, flag := range []string{"--internal-client-ca", "--behind-tls-proxy", "--trusted-proxies", "--[no-]rate-limits", "--rate-limit", "--audit-retention", "--key-rotation"} {
		if !strings.Contains(out, flag) {
			t.Errorf("help lacks %s", flag)
		}
	}
	_ = code
}

// TestClientCacheFlag: --client-cache-size sets the cache, 0 turns it
// off, a negative size is refused.
func TestClientCacheFlag(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want int
		bad  bool
	}{{"1024", 1024, false}, {"5", 5, false}, {"0", -1, false}, {"-3", 0, true}} {
		c, e := parseForTest(t, "serve", "--client-cache-size="+tc.arg)
		cfg, probs := c.Serve.buildConfig(e)
		if tc.bad {
			if !strings.Contains(strings.Join(probs, "; "), "--client-cache-size must be 0 (none) or positive") {
				t.Errorf("%s: problems %v", tc.arg, probs)
			}
			continue
		}
		if len(probs) > 0 || cfg.OIDC.ClientCacheSize != tc.want {
			t.Errorf("%s: size %d (%v), want %d", tc.arg, cfg.OIDC.ClientCacheSize, probs, tc.want)
		}
	}
}

// TestRefreshReuseGraceFlag: --refresh-reuse-grace sets the grace (default
// 5s), 0 turns it off, a negative or over-long one is refused.
func TestRefreshReuseGraceFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
		bad  bool
	}{{nil, 5 * time.Second, false}, {[]string{"--refresh-reuse-grace=2s"}, 2 * time.Second, false},
		{[]string{"--refresh-reuse-grace=0"}, -1, false}, {[]string{"--refresh-reuse-grace=-1s"}, 0, true}, {[]string{"--refresh-reuse-grace=2m"}, 0, true}} {
		c, e := parseForTest(t, append([]string{"serve"}, tc.args...)...)
		cfg, probs := c.Serve.buildConfig(e)
		if tc.bad {
			if !strings.Contains(strings.Join(probs, "; "), "--refresh-reuse-grace must be from 0") {
				t.Errorf("%v: problems %v", tc.args, probs)
			}
			continue
		}
		if len(probs) > 0 || cfg.OIDC.RefreshReuseGrace != tc.want {
			t.Errorf("%v: grace %s (%v), want %s", tc.args, cfg.OIDC.RefreshReuseGrace, probs, tc.want)
		}
	}
}
