package idp

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
)

// withMailpit configures the server to send through mp.
func withMailpit(t *testing.T, mp *mailtest.Server) func(*Config) {
	return func(c *Config) {
		s, err := mail.ParseSMTPURL(mp.URL("latchkey", "smtp-pass"))
		if err != nil {
			t.Fatal(err)
		}
		c.Mail.SMTP, c.Mail.From = s, "Latchkey <noreply@example.com>"
		c.Mail.RetryBase, c.Mail.MaxAttempts = time.Second, 3
	}
}

// runMailJobs runs the server's delivery loop until the test ends.
func runMailJobs(t *testing.T, s *Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.mailJobs(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

var mailedLinkRe = regexp.MustCompile(`http://localhost:\d+/setup/[A-Za-z0-9_-]+`)

// mailedLink waits for the n-th message to addr and returns its setup link,
// checking that both parts carry it.
func mailedLink(t *testing.T, mp *mailtest.Server, addr string, n int) string {
	t.Helper()
	msgs := mp.Wait(t, addr, n, 10*time.Second)
	link := mailedLinkRe.FindString(msgs[0].Text)
	if link == "" || !strings.Contains(msgs[0].HTML, `href="`+link+`"`) {
		t.Fatalf("no setup link in both parts of %q:\n%s\n%s", msgs[0].Subject, msgs[0].Text, msgs[0].HTML)
	}
	return link
}

// TestInvitationsFromConsoleAndAPI: the console button and the API each
// queue an invitation that arrives through SMTP with a working link (the
// newer one replaces the older); refusals are clear and change nothing;
// an undeliverable message shows in the console and the API.
func TestInvitationsFromConsoleAndAPI(t *testing.T) {
	mp := mailtest.Start(t)
	app := newAdminApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	ctx := context.Background()
	b, root := adminWithConsole(t, app)
	ivy := &models.User{Username: "ivy", Email: "ivy@example.com", DisplayName: "Ivy Example"}
	if err := app.db.CreateUser(ctx, ivy); err != nil {
		t.Fatal(err)
	}

	body, csrf := b.adminPage(app.adminURL+"/admin/users/"+ivy.ID, http.StatusOK)
	if !strings.Contains(body, `id="send-invitation"`) {
		t.Fatalf("no invitation button on the user page:\n%s", body)
	}
	resp := b.postForm(app.adminURL+"/admin/users/"+ivy.ID+"/invite", csrf, url.Values{})
	_ = readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done=invitation-queued") {
		t.Fatalf("console invite = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	first := mailedLink(t, mp, "ivy@example.com", 1)
	app.newBrowser().page(first, http.StatusOK) // the console's emailed link works
	body, _ = b.adminPage(app.adminURL+"/admin/users/"+ivy.ID, http.StatusOK)
	if !strings.Contains(body, `id="user-mail"`) || !strings.Contains(body, "Set up your passkey for Latchkey") {
		t.Fatalf("the user page does not list the message:\n%s", body)
	}

	token, _, err := app.db.CreateAPIToken(ctx, "ci", root.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	if st := apiCall(t, app, http.MethodPost, "/api/v1/users/"+ivy.ID+"/invitations", token, nil, &out); st != http.StatusAccepted ||
		out["status"] != "queued" || out["mail_id"] == "" || out["email"] != "ivy@example.com" {
		t.Fatalf("API invite = %d %v", st, out)
	}
	for k, v := range out {
		if strings.Contains(v, "/setup/") {
			t.Fatalf("the API answer carries the link in %s", k)
		}
	}
	second := mailedLink(t, mp, "ivy@example.com", 2)
	if second == first {
		t.Fatal("the API sent the same link again")
	}
	nb := app.newBrowser()
	nb.page(first, http.StatusGone) // replaced by the newer link (expired at once)
	nb.register(second)             // the emailed link enrolls a passkey

	// Notices: the owner hears of the passkey added, then of its removal
	// by an admin.
	added := noticeTo(t, mp, "ivy@example.com", "A passkey was added to your Latchkey account")
	if !strings.Contains(added.Text, `"Test key"`) || !strings.Contains(added.HTML, "<strong>Test key</strong>") ||
		!strings.Contains(added.Text, app.issuer+"/account") {
		t.Fatalf("added notice:\n%s\n%s", added.Text, added.HTML)
	}
	creds, err := app.db.CredentialsByUser(ctx, ivy.ID)
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials = %d, %v", len(creds), err)
	}
	_, csrf = b.adminPage(app.adminURL+"/admin/users/"+ivy.ID, http.StatusOK)
	resp = b.postForm(app.adminURL+"/admin/users/"+ivy.ID+"/passkeys/"+creds[0].ID+"/revoke", csrf, url.Values{})
	_ = readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d", resp.StatusCode)
	}
	removed := noticeTo(t, mp, "ivy@example.com", "A passkey was removed from your Latchkey account")
	if !strings.Contains(removed.Text, `"Test key"`) {
		t.Fatalf("removed notice:\n%s", removed.Text)
	}

	// Refusals: no address, disabled, unknown user; nothing is queued.
	nomail := &models.User{Username: "nomail"}
	off := &models.User{Username: "off", Email: "off@example.com"}
	for _, u := range []*models.User{nomail, off} {
		if err := app.db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.db.SetUserDisabled(ctx, off.ID, true); err != nil {
		t.Fatal(err)
	}
	var e map[string]string
	for _, tc := range []struct {
		id   string
		want int
		msg  string
	}{
		{nomail.ID, http.StatusConflict, "no email address"},
		{off.ID, http.StatusConflict, "disabled"},
		{"no-such-user", http.StatusNotFound, "not found"},
	} {
		if st := apiCall(t, app, http.MethodPost, "/api/v1/users/"+tc.id+"/invitations", token, nil, &e); st != tc.want || !strings.Contains(e["error"], tc.msg) {
			t.Errorf("invite %s = %d %v, want %d %q", tc.id, st, e, tc.want, tc.msg)
		}
	}
	for _, u := range []*models.User{nomail, off} {
		if rows, _ := app.db.RecentMailForUser(ctx, u.ID, 5); len(rows) != 0 {
			t.Errorf("%s: %d messages queued after a refusal", u.Username, len(rows))
		}
	}

	// An undeliverable message is listed in the console and the API, and
	// the overview says so.
	if body, _ := b.adminPage(app.adminURL+"/admin", http.StatusOK); strings.Contains(body, `id="undeliverable-mail"`) {
		t.Fatal("the overview warns of undeliverable mail before any")
	}
	mp.Stop()
	id, err := app.srv.Mailer().Queue(ctx, app.db, mail.KindInvitation, ivy, map[string]any{"Link": "http://x/setup/y", "Expires": time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := app.db.MailByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status() == "undeliverable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not given up: %+v", m)
		}
		// Skip the backoff: the clock of the test app is settable.
		app.clock.Advance(5 * time.Second)
		time.Sleep(100 * time.Millisecond)
	}
	body, _ = b.adminPage(app.adminURL+"/admin", http.StatusOK)
	if !strings.Contains(body, `id="undeliverable-mail"`) || !strings.Contains(body, "1 email message could not be delivered and was given up") ||
		!strings.Contains(body, `href="/admin/mail"`) {
		t.Fatalf("the overview does not warn of the undeliverable message:\n%s", body)
	}
	body, _ = b.adminPage(app.adminURL+"/admin/mail", http.StatusOK)
	if !strings.Contains(body, `id="undeliverable"`) || !strings.Contains(body, "ivy@example.com") {
		t.Fatalf("the mail page does not list the undeliverable message:\n%s", body)
	}
	var list struct {
		Mail []struct {
			ID, Status, Recipient string
			LastError             string `json:"last_error"`
		}
	}
	if st := apiCall(t, app, http.MethodGet, "/api/v1/mail/undeliverable", token, nil, &list); st != http.StatusOK ||
		len(list.Mail) != 1 || list.Mail[0].ID != id || list.Mail[0].Status != "undeliverable" || list.Mail[0].LastError == "" {
		t.Fatalf("API undeliverable = %d %+v", st, list)
	}
}

// TestInvitationNeedsSMTP: without --smtp-url the console and the API
// refuse to queue mail that nothing would send.
func TestInvitationNeedsSMTP(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	root, _ := app.newUser("root", true)
	u := &models.User{Username: "ann", Email: "ann@example.com"}
	if err := app.db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	token, _, err := app.db.CreateAPIToken(ctx, "ci", root.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]string
	if st := apiCall(t, app, http.MethodPost, "/api/v1/users/"+u.ID+"/invitations", token, nil, &e); st != http.StatusConflict || !strings.Contains(e["error"], "--smtp-url") {
		t.Fatalf("invite without SMTP = %d %v", st, e)
	}
	if rows, _ := app.db.RecentMailForUser(ctx, u.ID, 5); len(rows) != 0 {
		t.Fatalf("%d messages queued", len(rows))
	}
}

// noticeTo waits for a message to addr with subject whose text contains
// each of texts, and returns it.
func noticeTo(t *testing.T, mp *mailtest.Server, addr, subject string, texts ...string) *mailtest.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := mp.To(addr)
		if err != nil {
			t.Fatal(err)
		}
	next:
		for _, m := range msgs {
			if m.Subject != subject {
				continue
			}
			for _, x := range texts {
				if !strings.Contains(m.Text, x) {
					continue next
				}
			}
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message %q to %s among %d", subject, addr, len(msgs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMailOnPostgres runs the invitation and recovery tests again on
// Postgres (LATCHKEY_TEST_POSTGRES): the outbox claim there uses FOR
// UPDATE SKIP LOCKED.
func TestMailOnPostgres(t *testing.T) {
	dbtest.RerunOnPostgres(t, "^(TestInvitationsFromConsoleAndAPI|TestRecoveryByEmail)$")
}
