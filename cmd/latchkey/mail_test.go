package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
)

// TestServeRejectsBadMailFlags: each bad mail flag is named, and the
// password never appears in the error output.
func TestServeRejectsBadMailFlags(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--smtp-url", "smtp://u:pw-s3cret@mail.example.com:25?tls=off", "--smtp-from", "a@example.com"}, "only to a loopback host"},
		{[]string{"--smtp-url", "smtp://u:pw-s3cret@127.0.0.1:25?tls=off"}, "--smtp-from is required"},
		{[]string{"--smtp-url", "smtp://u:pw-s3cret@127.0.0.1:25", "--smtp-from", "Eve\r\nBcc: x@example.com"}, "--smtp-from"},
		{[]string{"--smtp-url", "http://u:pw-s3cret@127.0.0.1:25", "--smtp-from", "a@example.com"}, "scheme"},
		{[]string{"--smtp-url", "smtp://u:pw-s3cret@127.0.0.1:25", "--smtp-from", "a@example.com", "--smtp-retry", "0s"}, "--smtp-retry"},
		{[]string{"--smtp-password-file", "/nonexistent"}, "needs --smtp-url"},
		{[]string{"--signup", "invite"}, "--signup=invite needs --smtp-url"},
		{[]string{"--smtp-url", "smtp://u:pw-s3cret@127.0.0.1:25", "--smtp-from", "a@example.com", "--signup", "open"}, "needs --signup-domains"},
		{[]string{"--smtp-url", "smtp://u:pw-s3cret@127.0.0.1:25", "--smtp-from", "a@example.com", "--signup", "open", "--signup-domains", "example.com,not a domain"}, "is not a domain name"},
		{[]string{"--signup-domains", "example.com"}, "needs --signup=open"},
		{[]string{"--signup", "sometimes"}, "--signup"},
		{[]string{"--smtp-ca-file", "/nonexistent"}, "--smtp-ca-file needs --smtp-url"},
		{[]string{"--smtp-url", "smtps://u:pw-s3cret@127.0.0.1:465", "--smtp-from", "a@example.com", "--smtp-ca-file", "/nonexistent"}, "--smtp-ca-file: open /nonexistent"},
		{[]string{"--smtp-url", "smtps://u:pw-s3cret@127.0.0.1:465", "--smtp-from", "a@example.com", "--smtp-ca-file", notPEM}, "holds no PEM certificate"},
		{[]string{"--smtp-url", "smtp://u:pw-s3cret@127.0.0.1:25?tls=off", "--smtp-from", "a@example.com", "--smtp-ca-file", notPEM}, "--smtp-ca-file needs TLS"},
	} {
		args := append([]string{"serve", "--issuer", "http://localhost:8080", "--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:1"}, tc.args...)
		code, _, errOut := cliRun(t, t.TempDir(), args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want an error with %q:\n%s", tc.args, code, tc.want, errOut)
		}
		if strings.Contains(errOut, "pw-s3cret") {
			t.Errorf("%v: the password is in the output:\n%s", tc.args, errOut)
		}
	}
}

// serveMail runs `latchkey serve` on dir with mp as its SMTP server until
// stop is called; it returns the public address.
func serveMail(t *testing.T, dir, pub, internal string, mp *mailtest.Server, errOut *syncBuffer, extra ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, term syncBuffer
	done := make(chan int)
	go func() {
		done <- runTerm(ctx, append([]string{"serve", "--data-dir", dir, "--issuer", "http://localhost:" + portOf(pub),
			"--listen", pub, "--internal-listen", internal, "--log-format", "text",
			"--smtp-url", mp.URL("latchkey", "pw-s3cret-smtp"), "--smtp-from", "Latchkey <noreply@example.com>", "--smtp-retry", "1s"}, extra...),
			&out, errOut, &term)
	}()
	waitReady(t, "http://"+internal+"/readyz")
	return func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, errOut.String())
		}
	}
}

// TestInviteSurvivesSMTPOutageAndRestart: the CLI queues an invitation
// while the SMTP server is down; the server tries, fails, keeps it and is
// restarted; once the SMTP server is back the message arrives exactly
// once, with a setup link that works. The link and the SMTP password are
// in no log and not on the CLI's output.
func TestInviteSurvivesSMTPOutageAndRestart(t *testing.T) {
	dir := t.TempDir()
	mp := mailtest.Start(t)
	mp.Stop()
	if code, _, e := cliRun(t, dir, "users", "add", "--username", "ada", "--email", "ada@example.com", "--name", "Ada Lovelace"); code != 0 {
		t.Fatalf("users add: %s", e)
	}
	if code, _, e := cliRun(t, dir, "users", "add", "--username", "nomail"); code != 0 {
		t.Fatalf("users add: %s", e)
	}
	pub, internal := freeAddr(t), freeAddr(t)
	code, out, errOut := cliRun(t, dir, "users", "invite", "ada", "--issuer", "http://localhost:"+portOf(pub))
	if code != 0 || !strings.Contains(out, "queued to ada@example.com") || strings.Contains(out+errOut, "/setup/") {
		t.Fatalf("users invite: %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = cliRun(t, dir, "users", "invite", "nomail")
	if code == 0 || !strings.Contains(errOut, "has no email address") {
		t.Fatalf("invite without an address: %d\n%s\n%s", code, out, errOut)
	}

	var logs syncBuffer
	stop := serveMail(t, dir, pub, internal, mp, &logs)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "mail not delivered") {
		if time.Now().After(deadline) {
			t.Fatalf("the server never tried to send:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()

	mp.Restart()
	stop = serveMail(t, dir, pub, internal, mp, &logs)
	defer stop()
	msgs := mp.Wait(t, "ada@example.com", 1, 15*time.Second)
	time.Sleep(1500 * time.Millisecond) // a second delivery would come within a round
	if again, _ := mp.To("ada@example.com"); len(again) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(again))
	}
	link := regexp.MustCompile(`http://localhost:\d+/setup/[A-Za-z0-9_-]+`).FindString(msgs[0].Text)
	if link == "" || !strings.Contains(msgs[0].HTML, link) {
		t.Fatalf("no setup link in both parts:\n%s\n%s", msgs[0].Text, msgs[0].HTML)
	}
	resp, err := http.Get(link) //nolint:noctx // a test request to our own server
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the emailed link: status %d", resp.StatusCode)
	}
	token := link[strings.LastIndex(link, "/")+1:]
	if l := logs.String(); strings.Contains(l, token) || strings.Contains(l, "pw-s3cret-smtp") {
		t.Fatalf("the log carries the link or the SMTP password:\n%s", l)
	}
}

// TestServeSendsOverTLSWithCAFile: `serve --smtp-url smtps://…
// --smtp-ca-file` delivers an invitation the CLI queued to an SMTP server
// that speaks only TLS, with a certificate of a private CA; the same URL
// without the CA file keeps the message queued (the certificate is
// verified) and says why in the log.
func TestServeSendsOverTLSWithCAFile(t *testing.T) {
	dir := t.TempDir()
	mp := mailtest.StartTLS(t, "tls")
	if code, _, e := cliRun(t, dir, "users", "add", "--username", "tia", "--email", "tia@example.com", "--name", "Tia Tan"); code != 0 {
		t.Fatalf("users add: %s", e)
	}
	pub, internal := freeAddr(t), freeAddr(t)
	if code, out, e := cliRun(t, dir, "users", "invite", "tia", "--issuer", "http://localhost:"+portOf(pub)); code != 0 || !strings.Contains(out, "queued to tia@example.com") {
		t.Fatalf("users invite: %d\n%s\n%s", code, out, e)
	}

	var logs syncBuffer
	stop := serveMail(t, dir, pub, internal, mp, &logs)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "certificate") {
		if time.Now().After(deadline) {
			t.Fatalf("without --smtp-ca-file the server did not report the untrusted certificate:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if msgs, _ := mp.Messages(); len(msgs) != 0 {
		t.Fatalf("%d messages went to a server whose certificate was not trusted", len(msgs))
	}

	stop = serveMail(t, dir, pub, internal, mp, &logs, "--smtp-ca-file", mp.CAFile(t))
	defer stop()
	msgs := mp.Wait(t, "tia@example.com", 1, 15*time.Second)
	if msgs[0].Subject != "Set up your passkey for Latchkey" || !strings.Contains(msgs[0].Text, "/setup/") {
		t.Fatalf("arrived: %s\n%s", msgs[0].Subject, msgs[0].Text)
	}
	if strings.Contains(logs.String(), "pw-s3cret-smtp") {
		t.Fatalf("the log carries the SMTP password:\n%s", logs.String())
	}
}
