package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/testserver"
	"github.com/latchkey-idp/latchkey/models"
)

// cliRun runs the CLI in-process against dir and returns exit code, stdout
// and stderr.
func cliRun(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, "--data-dir", dir, "--log-format", "text"), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLIUsersAndClients(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := cliRun(t, dir, "users", "add", "--username", "Alice", "--email", "alice@example.com", "--admin", "--json")
	if code != 0 {
		t.Fatalf("users add: %d %s", code, errOut)
	}
	var u struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		SetupURL string `json:"setup_url"`
		Admin    bool   `json:"admin"`
	}
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatalf("users add --json is not one JSON object: %q", out)
	}
	if u.Username != "alice" || !u.Admin || !strings.HasPrefix(u.SetupURL, "http://localhost:8080/setup/") {
		t.Fatalf("users add = %+v", u)
	}
	// The link is the command's output; the log (stderr) only says it was
	// issued, for whom and until when.
	if strings.Contains(errOut, "/setup/") || !strings.Contains(errOut, "setup link issued") || !strings.Contains(errOut, "user=alice") || !strings.Contains(errOut, "expires_at=") {
		t.Errorf("users add log:\n%s", errOut)
	}

	if code, _, errOut := cliRun(t, dir, "users", "add", "--username", "alice"); code == 0 || !strings.Contains(errOut, "taken") {
		t.Fatalf("duplicate user: %d %s", code, errOut)
	}
	if code, _, errOut := cliRun(t, dir, "users", "add", "--username", "bad name"); code == 0 || !strings.Contains(errOut, "username") {
		t.Fatalf("bad username: %d %s", code, errOut)
	}
	// The address and the name go into the To header of every message:
	// a line break (header injection) or an oversize name is refused and
	// creates no user.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--email", "eve@example.com\r\nBcc: x@example.com"}, "is not an address"},
		{[]string{"--email", "Eve <eve@example.com>"}, "is not an address"},
		{[]string{"--name", "Eve\nBcc: x@example.com"}, "control characters"},
		{[]string{"--name", strings.Repeat("e", 129)}, "longer than 128 characters"},
	} {
		if code, _, errOut := cliRun(t, dir, append([]string{"users", "add", "--username", "eve"}, bad.args...)...); code == 0 || !strings.Contains(errOut, bad.want) {
			t.Fatalf("users add %q: %d %s", bad.args, code, errOut)
		}
	}
	if code, _, _ := cliRun(t, dir, "users", "setup-link", "eve"); code == 0 {
		t.Fatal("a refused users add created eve")
	}

	code, out, _ = cliRun(t, dir, "users", "setup-link", "alice", "--json")
	var link struct {
		SetupURL string `json:"setup_url"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &link) != nil || link.SetupURL == u.SetupURL || link.SetupURL == "" {
		t.Fatalf("setup-link: %d %q", code, out)
	}
	if code, _, errOut := cliRun(t, dir, "users", "setup-link", "nobody"); code == 0 || !strings.Contains(errOut, "nobody") {
		t.Fatalf("setup-link for unknown user: %d %s", code, errOut)
	}

	code, out, errOut = cliRun(t, dir, "clients", "add", "--name", "Demo", "--redirect-uri", "http://localhost:9090/callback",
		"--post-logout-redirect-uri", "http://localhost:9090/", "--json")
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil || c.ClientID == "" || len(c.ClientSecret) < 40 {
		t.Fatalf("clients add: %d %q %s", code, out, errOut)
	}
	code, out, _ = cliRun(t, dir, "clients", "add", "--name", "SPA", "--redirect-uri", "http://localhost:3000/cb", "--public", "--json")
	if code != 0 || strings.Contains(out, "client_secret") {
		t.Fatalf("public client: %d %q", code, out)
	}
	if code, _, errOut := cliRun(t, dir, "clients", "add", "--name", "X", "--redirect-uri", "/relative#frag"); code == 0 || !strings.Contains(errOut, "absolute") {
		t.Fatalf("bad redirect URI: %d %s", code, errOut)
	}

	// The database holds no secret we printed.
	raw, err := os.ReadFile(filepath.Join(dir, "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(dir, "latchkey.db-wal"))
	raw = append(raw, wal...)
	token := u.SetupURL[strings.LastIndex(u.SetupURL, "/")+1:]
	for name, secret := range map[string]string{"client secret": c.ClientSecret, "setup token": token} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%s stored in clear in the database", name)
		}
	}

	code, out, _ = cliRun(t, dir, "users", "list", "--json")
	if code != 0 || !strings.Contains(out, `"alice"`) {
		t.Fatalf("users list: %d %q", code, out)
	}
}

func TestCLIKeysAndMigrate(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := cliRun(t, dir, "migrate"); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := cliRun(t, dir, "keys", "rotate"); code != 0 {
		t.Fatalf("keys rotate: %s", errOut)
	}
	// The key is made outside the data directory (issue 20).
	st, err := os.Stat(filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "latchkey", "master.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Fatal("a master key was made in the data directory")
	}
}

func TestCLIServeRejectsContradictions(t *testing.T) {
	code, _, errOut := cliRun(t, t.TempDir(), "serve", "--issuer", "http://127.0.0.1:8080/?x=1", "--tls-cert", "cert.pem",
		"--listen", "127.0.0.1:8081", "--internal-listen", "127.0.0.1:8081", "--rp-id", "example.com")
	if code == 0 {
		t.Fatal("serve started with a contradictory configuration")
	}
	for _, want := range []string{"query", "tls-key", "differ"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error output lacks %q:\n%s", want, errOut)
		}
	}
	code, _, errOut = cliRun(t, t.TempDir(), "serve", "--issuer", "http://127.0.0.1:8080")
	if code == 0 || !strings.Contains(errOut, "IP address") {
		t.Fatalf("IP issuer: %d %s", code, errOut)
	}
}

func TestCLIUsage(t *testing.T) {
	if code, _, _ := cliRun(t, t.TempDir(), "frobnicate"); code != 2 {
		t.Fatalf("unknown command exit code %d, want 2", code)
	}
	if code, out, _ := cliRun(t, t.TempDir(), "version"); code != 0 || !strings.HasPrefix(out, "latchkey ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

// TestCLIWhileServing runs the server and the CLI on one data directory at
// the same time, as an operator would.
func TestCLIWhileServing(t *testing.T) {
	dir := t.TempDir()
	pub, internal := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut, term syncBuffer
	done := make(chan int)
	go func() {
		done <- runTerm(ctx, []string{"serve", "--data-dir", dir, "--issuer", "http://localhost:" + portOf(pub),
			"--listen", pub, "--internal-listen", internal, "--log-format", "text"}, &out, &errOut, &term)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, errOut.String())
		}
	}()
	waitReady(t, "http://"+internal+"/readyz")
	// The first admin's link is on the terminal only; the structured log
	// (stderr) says that it was issued, for whom and until when.
	first := regexp.MustCompile(`http://localhost:\d+/setup/([A-Za-z0-9_-]+)`).FindStringSubmatch(term.String())
	if first == nil {
		t.Fatalf("no first-admin setup link on the terminal:\n%s", term.String())
	}
	// The first start says where the console is, on the terminal and in the log.
	console := "http://localhost:" + portOf(internal) + "/admin"
	if !strings.Contains(term.String(), console) || !strings.Contains(errOut.String(), "console="+console) {
		t.Errorf("the first start does not print the console URL %s:\nterminal: %s\nlog: %s", console, term.String(), errOut.String())
	}
	if log := errOut.String(); strings.Contains(log, "/setup/") || strings.Contains(log, first[1]) {
		t.Errorf("the structured log carries the setup link:\n%s", log)
	}
	if log := errOut.String(); !strings.Contains(log, "setup link issued") || !strings.Contains(log, "user=admin") || !strings.Contains(log, "expires_at=") {
		t.Errorf("the log does not record the issued link, for whom and its expiry:\n%s", log)
	}
	if out.String() != "" && strings.Contains(out.String(), first[1]) {
		t.Errorf("the link went to stdout")
	}
	// Passing health and readiness probes (waitReady polled /readyz, and
	// /healthz now) leave no line in the request log; other requests do.
	for _, probe := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + internal + probe)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", probe, err, resp)
		}
		_ = resp.Body.Close()
	}
	if log := errOut.String(); strings.Contains(log, "/healthz") || strings.Contains(log, "/readyz") || !strings.Contains(log, "/metrics") {
		t.Errorf("the request log, want /metrics and no passing probe:\n%s", log)
	}
	code, o, e := cliRun(t, dir, "users", "add", "--username", "dora", "--json")
	if code != 0 || !strings.Contains(o, "setup_url") {
		t.Fatalf("users add while serving: %d %s %s", code, o, e)
	}
	var u struct {
		SetupURL string `json:"setup_url"`
	}
	_ = json.Unmarshal([]byte(o), &u)
	i := strings.Index(u.SetupURL, "/setup/")
	if i < 0 {
		t.Fatalf("no setup link in the CLI's output: %s", o)
	}
	resp, err := http.Get("http://" + pub + u.SetupURL[i:])
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status is checked
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setup link made by the CLI: status %d on the running server", resp.StatusCode)
	}
}

// The harness of servers these tests start (internal/testserver).
var (
	freeAddr = testserver.FreeAddr
	portOf   = testserver.Port
)

type syncBuffer = testserver.SyncBuffer

func waitReady(t *testing.T, url string) {
	t.Helper()
	testserver.WaitReady(t, url, nil, nil)
}

// TestCLIClientsAddChecksBackchannelURI: `clients add` refuses a
// back-channel logout URI the server would not deliver to, naming the flag;
// --outbound-allow (flag or LATCHKEY_OUTBOUND_ALLOW) opens a private range
// and refuses anything else.
func TestCLIClientsAddChecksBackchannelURI(t *testing.T) {
	dir := t.TempDir()
	add := func(args ...string) (int, string) {
		code, _, errOut := cliRun(t, dir, append([]string{"--issuer", "https://id.example.com", "clients", "add", "--name", "RP",
			"--redirect-uri", "https://rp.example.com/cb"}, args...)...)
		return code, errOut
	}
	for uri, why := range map[string]string{
		"http://169.254.169.254/":           "https",
		"https://169.254.169.254/":          "link-local",
		"https://[::1]:8081/":               "loopback",
		"https://127.0.0.1:8081/api/v1/":    "loopback",
		"https://0.0.0.0/":                  "unspecified",
		"gopher://rp.example.com/_x":        "gopher",
		"https://user:pw@rp.example.com/bc": "user name",
		"https://10.0.0.7/bc":               "--outbound-allow",
	} {
		if code, errOut := add("--backchannel-logout-uri", uri); code == 0 || !strings.Contains(errOut, "--backchannel-logout-uri") || !strings.Contains(errOut, why) {
			t.Errorf("%s: exit %d, %q; want a refusal naming the flag and %q", uri, code, errOut, why)
		}
	}
	if code, errOut := add("--backchannel-logout-uri", "https://rp.example.com/bc"); code != 0 {
		t.Fatalf("public receiver refused: %s", errOut)
	}
	if code, errOut := add("--backchannel-logout-uri", "https://10.0.0.7/bc", "--outbound-allow", "10.0.0.0/24"); code != 0 {
		t.Fatalf("allowed private range refused: %s", errOut)
	}
	t.Setenv("LATCHKEY_OUTBOUND_ALLOW", "192.168.0.0/16,10.9.0.0/16")
	if code, errOut := add("--backchannel-logout-uri", "https://192.168.3.3/bc"); code != 0 {
		t.Fatalf("range allowed by the environment refused: %s", errOut)
	}
	if code, errOut := add("--backchannel-logout-uri", "https://rp.example.com/bc", "--outbound-allow", "127.0.0.0/8"); code == 0 || !strings.Contains(errOut, "--outbound-allow 127.0.0.0/8") {
		t.Fatalf("loopback allowed: %d %s", code, errOut)
	}
}

// TestServeWithoutTerminalLogsNoLink: with no terminal (a service manager,
// a container without a TTY) serve issues no first-admin link, so none
// can reach the collected log, and the log says how to get one.
func TestServeWithoutTerminalLogsNoLink(t *testing.T) {
	dir := t.TempDir()
	pub, internal := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- runTerm(ctx, []string{"serve", "--data-dir", dir, "--issuer", "http://localhost:" + portOf(pub),
			"--listen", pub, "--internal-listen", internal}, &out, &errOut, nil)
	}()
	waitReady(t, "http://"+internal+"/readyz")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	log := errOut.String() + out.String()
	if strings.Contains(log, "/setup/") {
		t.Fatalf("a setup link reached the output:\n%s", log)
	}
	if !strings.Contains(log, "latchkey users setup-link admin") {
		t.Fatalf("the log does not say how to get the first admin's link:\n%s", log)
	}
}

// openDataDir opens the database of the data directory dir beside the
// CLI (or a server) and closes it at the end of the test.
func openDataDir(t *testing.T, dir string) *models.DB {
	t.Helper()
	db, err := models.Open(context.Background(), models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}
