package idp

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
)

var csrfValues = regexp.MustCompile(`(name="_csrf" value=|name="csrf-token" content=)"[^"]*"`)

// recoverPost posts the recovery form from a fresh page and returns the
// status and the body without its CSRF tokens.
func recoverPost(t *testing.T, b *browser, email string) (int, string) {
	t.Helper()
	_, csrf := b.page("/recover", http.StatusOK)
	resp := b.postForm("/recover", csrf, url.Values{"email": {email}})
	body := readBody(t, resp)
	return resp.StatusCode, csrfValues.ReplaceAllString(body, "")
}

// TestRecoveryByEmail: the answer is the same whether or not an account
// uses the address; a malformed address is refused; the link adds a
// passkey and the old one stays; per-address and per-IP limits hold.
func TestRecoveryByEmail(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp), func(c *Config) {
		c.RateLimits.Limits = map[string]RateLimit{RateLimitRecovery: {Requests: 9, Window: time.Hour}}
	})
	runMailJobs(t, app.srv)
	ctx := context.Background()
	rae, setup := app.newUser("rae", false)
	old := app.newBrowser()
	old.register(setup)
	off, _ := app.newUser("offline", false)
	if err := app.db.SetUserDisabled(ctx, off.ID, true); err != nil {
		t.Fatal(err)
	}

	b := app.newBrowser()
	st, known := recoverPost(t, b, "RAE@example.com") // addresses compare without case
	if st != http.StatusOK || !strings.Contains(known, `id="recovery-sent"`) {
		t.Fatalf("recover a known address = %d\n%s", st, known)
	}
	st, unknown := recoverPost(t, b, "nobody@example.com")
	if st != http.StatusOK || unknown != strings.Replace(known, "RAE@example.com", "nobody@example.com", 1) {
		t.Fatalf("the answers differ (%d):\n%s\n---\n%s", st, known, unknown)
	}
	st, disabled := recoverPost(t, b, "offline@example.com")
	if st != http.StatusOK || !strings.Contains(disabled, `id="recovery-sent"`) {
		t.Fatalf("disabled account = %d", st)
	}
	for _, bad := range []string{"not-an-address", "rae@example.com\r\nBcc: eve@example.com", strings.Repeat("r", 300) + "@example.com"} {
		if st, body := recoverPost(t, b, bad); st != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) {
			t.Errorf("recover %q = %d", bad, st)
		}
	}

	msg := noticeTo(t, mp, "rae@example.com", "Add a new passkey to your Latchkey account")
	if !strings.Contains(msg.Text, "127.0.0.1") || !strings.Contains(msg.Text, "expires in 1 hour") {
		t.Fatalf("recovery message:\n%s", msg.Text)
	}
	link := mailedLinkIn(t, msg)
	nb := app.newBrowser()
	nb.register(link)
	creds, err := app.db.CredentialsByUser(ctx, rae.ID)
	if err != nil || len(creds) != 2 {
		t.Fatalf("passkeys after recovery = %d, %v (the old one must stay)", len(creds), err)
	}
	noticeTo(t, mp, "rae@example.com", "A passkey was added to your Latchkey account")
	nb.page(strings.TrimPrefix(link, app.issuer), http.StatusNotFound) // used
	if msgs, _ := mp.To("offline@example.com"); len(msgs) != 0 {
		t.Fatalf("a disabled account got %d messages", len(msgs))
	}
	if msgs, _ := mp.To("nobody@example.com"); len(msgs) != 0 {
		t.Fatalf("an unknown address got %d messages", len(msgs))
	}

	// Per address: three recovery messages an hour, then the same answer
	// and nothing sent.
	for range 3 {
		if st, body := recoverPost(t, b, "rae@example.com"); st != http.StatusOK || !strings.Contains(body, `id="recovery-sent"`) {
			t.Fatalf("repeat = %d", st)
		}
	}
	time.Sleep(2 * time.Second) // the delivery loop runs every second
	count := 0
	msgs, _ := mp.To("rae@example.com")
	for _, m := range msgs {
		if strings.HasPrefix(m.Subject, "Add a new passkey") {
			count++
		}
	}
	if count != 3 {
		t.Fatalf("%d recovery messages, want 3 (the per-address limit)", count)
	}
	// Per client IP: the tenth request of the hour is a 429.
	if st, _ := recoverPost(t, b, "x@example.com"); st != http.StatusTooManyRequests {
		t.Fatalf("request over the per-IP limit = %d", st)
	}
}

// mailedLinkIn returns the setup link of a message.
func mailedLinkIn(t *testing.T, m *mailtest.Message) string {
	t.Helper()
	link := mailedLinkRe.FindString(m.Text)
	if link == "" || !strings.Contains(m.HTML, `href="`+link+`"`) {
		t.Fatalf("no setup link in both parts:\n%s\n%s", m.Text, m.HTML)
	}
	return link
}

// TestRecoveryOff: with --recovery=off (or no SMTP) the page says so and
// a post sends nothing.
func TestRecoveryOff(t *testing.T) {
	mp := mailtest.Start(t)
	for name, mutate := range map[string]func(*Config){
		"off":     func(c *Config) { withMailpit(t, mp)(c); c.Recovery = RecoveryOff },
		"no smtp": func(*Config) {},
	} {
		t.Run(name, func(t *testing.T) {
			app := newTestApp(t, mutate)
			app.newUser("sam", false)
			b := app.newBrowser()
			body, csrf := b.page("/recover", http.StatusOK)
			if !strings.Contains(body, `id="recovery-off"`) || strings.Contains(body, `id="recover-form"`) {
				t.Fatalf("recovery page:\n%s", body)
			}
			resp := b.postForm("/recover", csrf, url.Values{"email": {"sam@example.com"}})
			_ = readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("post = %d", resp.StatusCode)
			}
			u, _ := app.db.UserByUsername(context.Background(), "sam")
			if rows, _ := app.db.RecentMailForUser(context.Background(), u.ID, 5); len(rows) != 0 {
				t.Fatalf("%d messages queued", len(rows))
			}
		})
	}
}

// TestRecoveryLinkExpiresInAnHour: the recovery link works for the hour
// its message promises and not after: the page says it expired, a
// ceremony cannot start, and the account keeps only its old passkey.
func TestRecoveryLinkExpiresInAnHour(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	ctx := context.Background()
	ria, setup := app.newUser("ria", false)
	app.newBrowser().register(setup)

	b := app.newBrowser()
	if st, body := recoverPost(t, b, "ria@example.com"); st != http.StatusOK || !strings.Contains(body, `id="recovery-sent"`) {
		t.Fatalf("recover = %d\n%s", st, body)
	}
	msg := noticeTo(t, mp, "ria@example.com", "Add a new passkey to your Latchkey account")
	if !strings.Contains(msg.Text, "expires in 1 hour") {
		t.Fatalf("recovery message:\n%s", msg.Text)
	}
	path := strings.TrimPrefix(mailedLinkIn(t, msg), app.issuer)

	app.clock.Advance(59 * time.Minute)
	b.page(path, http.StatusOK) // still valid: a GET does not spend it
	app.clock.Advance(2 * time.Minute)
	if body, _ := b.page(path, http.StatusGone); !strings.Contains(body, "expired") {
		t.Fatalf("expired recovery link:\n%s", body)
	}
	_, csrf := b.page("/recover", http.StatusOK)
	var begin beginResp
	if st := b.postJSON(path+"/begin", csrf, map[string]any{}, &begin); st != http.StatusGone || begin.Options != nil {
		t.Fatalf("ceremony on an expired link: %d %+v", st, begin)
	}
	if creds, err := app.db.CredentialsByUser(ctx, ria.ID); err != nil || len(creds) != 1 {
		t.Fatalf("passkeys after an expired link = %d, %v", len(creds), err)
	}
}

// TestRecoveryTakesAsLongForEveryAddress: finding an account and queuing
// its link takes longer than finding none, so every well-formed request
// is answered no sooner than recoveryAnswerTime: the time of the answer
// does not tell a stranger which addresses have an account.
func TestRecoveryTakesAsLongForEveryAddress(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp), func(c *Config) {
		c.RateLimits.Limits = map[string]RateLimit{RateLimitRecovery: {Requests: 100, Window: time.Hour}}
	})
	runMailJobs(t, app.srv)
	b := app.newBrowser()
	_, csrf := b.page("/recover", http.StatusOK)
	median := func(addrs []string) time.Duration {
		var ds []time.Duration
		for _, a := range addrs {
			start := time.Now()
			resp := b.postForm("/recover", csrf, url.Values{"email": {a}})
			body := readBody(t, resp)
			d := time.Since(start)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="recovery-sent"`) {
				t.Fatalf("recover %s = %d", a, resp.StatusCode)
			}
			if d < recoveryAnswerTime {
				t.Errorf("recover %s answered after %v, before %v", a, d, recoveryAnswerTime)
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	var known, unknown []string
	for _, n := range []string{"kai", "kim", "kit"} {
		app.newUser(n, false)
		known = append(known, n+"@example.com")
		unknown = append(unknown, "no-"+n+"@example.com")
	}
	k, u := median(known), median(unknown)
	if diff := (k - u).Abs(); diff > recoveryAnswerTime/3 {
		t.Errorf("known addresses take %v, unknown %v: the difference %v tells them apart", k, u, diff)
	}
	for _, a := range known {
		noticeTo(t, mp, a, "Add a new passkey to your Latchkey account") // the known ones were sent their link
	}
}
