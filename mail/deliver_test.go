package mail

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/models"
)

// newMailer builds a Mailer for the Mailpit mp (nil: no SMTP) on clk,
// logging into logs.
func newMailer(t *testing.T, mp *mailtest.Server, clk *clock, sealer *models.Sealer, logs *bytes.Buffer) *Mailer {
	t.Helper()
	cfg := Config{From: "Latchkey <noreply@example.com>", Now: clk.Now, RetryBase: time.Minute, RetryCap: 4 * time.Minute,
		MaxAttempts: 4, Timeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if mp != nil {
		s, err := ParseSMTPURL(mp.URL("mailer", "hunter2-secret"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.SMTP = s
	}
	m, err := New(cfg, sealer)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func queueInvite(t *testing.T, m *Mailer, db *models.DB, u *models.User) string {
	t.Helper()
	id, err := m.Queue(context.Background(), db, KindInvitation, u,
		map[string]any{"Link": "http://localhost:1/setup/TOKEN-" + u.Username, "Expires": 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestDeliverToMailpit queues an invitation, delivers it to a real SMTP
// server with credentials, and reads both parts back; the stored body is
// sealed and emptied once sent, and the password appears in no log.
func TestDeliverToMailpit(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, sealer := openDB(t, clk)
	mp := mailtest.Start(t)
	var logs bytes.Buffer
	m := newMailer(t, mp, clk, sealer, &logs)
	u := newUser(t, db, "ada", "ada@example.com")
	id := queueInvite(t, m, db, u)

	row, err := db.MailByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(row.Body, []byte("TOKEN-ada")) || row.Status() != "queued" {
		t.Fatalf("the queued body is not sealed (or status %s)", row.Status())
	}
	res, err := m.Deliver(ctx, db)
	if err != nil || res.Sent != 1 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	msgs := mp.Wait(t, "ada@example.com", 1, 5*time.Second)
	got := msgs[0]
	if got.Subject != "Set up your passkey for Latchkey" || got.From.Address != "noreply@example.com" || got.To[0].Name != "Ada ada" {
		t.Fatalf("message = %+v", got)
	}
	if !strings.Contains(got.Text, "http://localhost:1/setup/TOKEN-ada") || !strings.Contains(got.HTML, `href="http://localhost:1/setup/TOKEN-ada"`) {
		t.Fatalf("the link is missing from a part:\ntext: %s\nhtml: %s", got.Text, got.HTML)
	}
	h, err := mp.Headers(got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h["Auto-Submitted"][0] != "auto-generated" {
		t.Fatalf("headers: %v", h)
	}
	row, err = db.MailByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status() != "sent" || len(row.Body) != 0 || row.Attempts != 1 {
		t.Fatalf("after sending: status %s, body %d bytes, attempts %d", row.Status(), len(row.Body), row.Attempts)
	}
	// Nothing is due any more.
	if res, err := m.Deliver(ctx, db); err != nil || res != (Result{}) {
		t.Fatalf("second round = %+v, %v", res, err)
	}
	if strings.Contains(logs.String(), "hunter2-secret") {
		t.Fatal("the SMTP password is in the log")
	}
}

// TestDeliverSurvivesOutage: with the SMTP server down the message is
// kept and retried with growing waits; a new Mailer (a restart) with the
// server back delivers it once.
func TestDeliverSurvivesOutage(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, sealer := openDB(t, clk)
	mp := mailtest.Start(t)
	var logs bytes.Buffer
	m := newMailer(t, mp, clk, sealer, &logs)
	u := newUser(t, db, "bob", "bob@example.com")
	mp.Stop()
	id := queueInvite(t, m, db, u)

	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute} {
		res, err := m.Deliver(ctx, db)
		if err != nil || res.Retried != 1 {
			t.Fatalf("round %d during the outage = %+v, %v", i, res, err)
		}
		row, err := db.MailByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if row.Status() != "queued" || !row.NextAttemptAt.Equal(clk.Now().Add(wait)) || row.LastError == "" {
			t.Fatalf("round %d: status %s, next %s (want now+%s), error %q", i, row.Status(), row.NextAttemptAt, wait, row.LastError)
		}
		// Not due yet: nothing is claimed.
		if res, err := m.Deliver(ctx, db); err != nil || res != (Result{}) {
			t.Fatalf("round %d before it is due = %+v, %v", i, res, err)
		}
		clk.Advance(wait)
	}
	mp.Restart()
	m2 := newMailer(t, mp, clk, sealer, &logs) // the server restarted
	res, err := m2.Deliver(ctx, db)
	if err != nil || res.Sent != 1 {
		t.Fatalf("after the outage = %+v, %v", res, err)
	}
	mp.Wait(t, "bob@example.com", 1, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if msgs, _ := mp.To("bob@example.com"); len(msgs) != 1 {
		t.Fatalf("%d messages arrived, want exactly 1", len(msgs))
	}
	if strings.Contains(logs.String(), "hunter2-secret") {
		t.Fatal("the SMTP password is in the log")
	}
}

// TestDeliverGivesUp: after MaxAttempts failures a message is
// undeliverable, loses its body and is listed for the console.
func TestDeliverGivesUp(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, sealer := openDB(t, clk)
	mp := mailtest.Start(t)
	mp.Stop()
	var logs bytes.Buffer
	m := newMailer(t, mp, clk, sealer, &logs)
	u := newUser(t, db, "cy", "cy@example.com")
	id := queueInvite(t, m, db, u)
	for range 3 {
		if res, err := m.Deliver(ctx, db); err != nil || res.Retried != 1 {
			t.Fatalf("Deliver = %+v, %v", res, err)
		}
		clk.Advance(time.Hour)
	}
	if res, err := m.Deliver(ctx, db); err != nil || res.GivenUp != 1 {
		t.Fatalf("fourth attempt = %+v, %v", res, err)
	}
	row, err := db.MailByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status() != "undeliverable" || len(row.Body) != 0 || row.Attempts != 4 {
		t.Fatalf("status %s, body %d, attempts %d", row.Status(), len(row.Body), row.Attempts)
	}
	list, more, err := db.UndeliverableMail(ctx, models.PageQuery{Limit: 10})
	if err != nil || more || len(list) != 1 || list[0].ID != id || list[0].Recipient != "cy@example.com" {
		t.Fatalf("UndeliverableMail = %+v, %v, %v", list, more, err)
	}
	// The purge keeps it 30 days, then deletes it.
	clk.Advance(29 * 24 * time.Hour)
	if _, err := db.Purge(ctx, models.PurgeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MailByID(ctx, id); err != nil {
		t.Fatalf("purged too early: %v", err)
	}
	clk.Advance(2 * 24 * time.Hour)
	if _, err := db.Purge(ctx, models.PurgeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MailByID(ctx, id); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("after 31 days: %v", err)
	}
}

// TestSTARTTLSIsRequired: smtp:// without tls=off never sends in clear to
// a server that offers no STARTTLS; the message stays queued.
func TestSTARTTLSIsRequired(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, sealer := openDB(t, clk)
	mp := mailtest.Start(t)
	s, err := ParseSMTPURL("smtp://u:p@" + mp.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m, err := New(Config{SMTP: s, From: "noreply@example.com", Now: clk.Now, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, sealer)
	if err != nil {
		t.Fatal(err)
	}
	u := newUser(t, db, "dee", "dee@example.com")
	id := queueInvite(t, m, db, u)
	if res, err := m.Deliver(ctx, db); err != nil || res.Retried != 1 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	row, err := db.MailByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status() != "queued" || !strings.Contains(strings.ToLower(row.LastError), "starttls") {
		t.Fatalf("status %s, error %q", row.Status(), row.LastError)
	}
	if msgs, _ := mp.Messages(); len(msgs) != 0 {
		t.Fatalf("%d messages were sent in clear", len(msgs))
	}
}

// TestQueueRefusesBadInput: no address, a malformed one, a name with a
// line break: a clear error and no row.
func TestQueueRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, sealer := openDB(t, clk)
	var logs bytes.Buffer
	m := newMailer(t, nil, clk, sealer, &logs)
	base := newUser(t, db, "eve", "")
	for _, tc := range []struct {
		email, name string
		want        error
	}{
		{"", "Eve", ErrNoAddress},
		{"eve", "Eve", models.ErrInvalid},
		{"eve@example.com\r\nBcc: x@example.com", "Eve", models.ErrInvalid},
		{"eve@example.com", "Eve\r\nBcc: x@example.com", models.ErrInvalid},
		{strings.Repeat("e", 300) + "@example.com", "Eve", models.ErrInvalid},
	} {
		u := *base
		u.Email, u.DisplayName = tc.email, tc.name
		_, err := m.Queue(ctx, db, KindInvitation, &u, map[string]any{"Link": "http://x/setup/t", "Expires": time.Hour})
		if !errors.Is(err, tc.want) {
			t.Errorf("Queue(%q, %q) = %v, want %v", tc.email, tc.name, err, tc.want)
		}
	}
	if rows, err := db.RecentMailForUser(ctx, base.ID, 10); err != nil || len(rows) != 0 {
		t.Fatalf("rows = %d, %v", len(rows), err)
	}
}

// TestClaimIsExclusive: concurrent claimers (instances sharing the
// database) never get the same message.
func TestClaimIsExclusive(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, sealer := openDB(t, clk)
	var logs bytes.Buffer
	m := newMailer(t, nil, clk, sealer, &logs)
	const n = 60
	for i := range n {
		u := newUser(t, db, "u"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "u@example.com")
		queueInvite(t, m, db, u)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				rows, err := db.ClaimMail(ctx, 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(rows) == 0 {
					return
				}
				mu.Lock()
				for _, r := range rows {
					seen[r.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d distinct messages, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("message %s claimed %d times", id, c)
		}
	}
}

// TestResealKeepsQueuedMail: master-key rotate re-seals queued bodies, so
// a message queued before the rotation is sent after it.
func TestResealKeepsQueuedMail(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, _ := openDB(t, clk)
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	oldS, _ := models.NewSealer(oldKey)
	newS, _ := models.NewSealer(newKey)
	if err := db.CheckMasterKey(ctx, oldKey); err != nil {
		t.Fatal(err)
	}
	mp := mailtest.Start(t)
	var logs bytes.Buffer
	u := newUser(t, db, "fay", "fay@example.com")
	queueInvite(t, newMailer(t, mp, clk, oldS, &logs), db, u)
	res, err := db.ResealAll(ctx, oldKey, newKey, "test")
	if err != nil || res.Mail != 1 {
		t.Fatalf("ResealAll = %+v, %v", res, err)
	}
	if r, err := newMailer(t, mp, clk, newS, &logs).Deliver(ctx, db); err != nil || r.Sent != 1 {
		t.Fatalf("Deliver with the new key = %+v, %v\n%s", r, err, logs.String())
	}
	mp.Wait(t, "fay@example.com", 1, 5*time.Second)
}

// stopsAfterClaim is the outbox of a server that stops (its context ends)
// right after a round claimed its messages.
type stopsAfterClaim struct {
	*models.DB
	stop context.CancelFunc
}

func (o stopsAfterClaim) ClaimMail(ctx context.Context, limit int, lease time.Duration) ([]models.OutboxMessage, error) {
	rows, err := o.DB.ClaimMail(ctx, limit, lease)
	o.stop()
	return rows, err
}

// TestStopMidRoundRecordsTheResult: a server stopping in the middle of a
// round still records what happened to the messages it claimed, so they
// are retried when due instead of waiting out the claim's lease (a queued
// invitation was stuck for minutes after a restart).
func TestStopMidRoundRecordsTheResult(t *testing.T) {
	clk := newClock()
	db, sealer := openDB(t, clk)
	mp := mailtest.Start(t)
	var logs bytes.Buffer
	m := newMailer(t, mp, clk, sealer, &logs)
	id := queueInvite(t, m, db, newUser(t, db, "eve", "eve@example.com"))
	ctx, cancel := context.WithCancel(context.Background())
	res, err := m.Deliver(ctx, stopsAfterClaim{DB: db, stop: cancel})
	if err != nil || res.Retried != 1 {
		t.Fatalf("the interrupted round = %+v, %v", res, err)
	}
	row, err := db.MailByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status() != "queued" || !row.NextAttemptAt.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("after the interrupted round: status %s, next attempt %s (want now+1m)", row.Status(), row.NextAttemptAt)
	}
	clk.Advance(time.Minute)
	if res, err := m.Deliver(context.Background(), db); err != nil || res.Sent != 1 {
		t.Fatalf("the retry = %+v, %v", res, err)
	}
	mp.Wait(t, "eve@example.com", 1, 5*time.Second)
}

// TestDeliverOverTLS delivers to a real SMTP server that requires TLS
// and takes credentials only over it: with STARTTLS (smtp://, RFC 3207)
// and with implicit TLS (smtps://, RFC 8314 §3.3). The server's
// certificate is verified: with the system's roots (which do not trust
// it) the message stays queued with the reason and nothing is sent; with
// RootCAs (--smtp-ca-file) it arrives once, both parts intact.
func TestDeliverOverTLS(t *testing.T) {
	for _, security := range []string{"starttls", "tls"} {
		t.Run(security, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			db, sealer := openDB(t, clk)
			mp := mailtest.StartTLS(t, security)
			s, err := ParseSMTPURL(mp.URL("mailer", "hunter2-secret"))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"starttls": STARTTLS, "tls": ImplicitTLS}[security]
			if s.Security != want {
				t.Fatalf("%s parsed as %q, want %q", mp.URL("mailer", "x"), s.Security, want)
			}
			var logs bytes.Buffer
			cfg := Config{SMTP: s, From: "Latchkey <noreply@example.com>", Now: clk.Now, RetryBase: time.Minute,
				Timeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			untrusting, err := New(cfg, sealer)
			if err != nil {
				t.Fatal(err)
			}
			u := newUser(t, db, "tess", "tess@example.com")
			id := queueInvite(t, untrusting, db, u)

			// The system's roots do not trust the test CA: no session.
			if res, err := untrusting.Deliver(ctx, db); err != nil || res.Retried != 1 {
				t.Fatalf("Deliver with the system's roots = %+v, %v", res, err)
			}
			row, err := db.MailByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if row.Status() != "queued" || !strings.Contains(row.LastError, "certificate") {
				t.Fatalf("with an untrusted certificate: status %s, error %q", row.Status(), row.LastError)
			}
			if msgs, err := mp.Messages(); err != nil || len(msgs) != 0 {
				t.Fatalf("%d messages reached a server whose certificate was not trusted (%v)", len(msgs), err)
			}

			cfg.RootCAs = mp.Roots()
			trusting, err := New(cfg, sealer)
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Minute)
			if res, err := trusting.Deliver(ctx, db); err != nil || res.Sent != 1 {
				t.Fatalf("Deliver with RootCAs = %+v, %v (last error: %s)\n%s", res, err, lastError(t, db, id), mp.Log())
			}
			got := mp.Wait(t, "tess@example.com", 1, 5*time.Second)
			if len(got) != 1 || got[0].Subject != "Set up your passkey for Latchkey" ||
				!strings.Contains(got[0].Text, "http://localhost:1/setup/TOKEN-tess") ||
				!strings.Contains(got[0].HTML, `href="http://localhost:1/setup/TOKEN-tess"`) {
				t.Fatalf("arrived: %+v", got)
			}
			if row, err := db.MailByID(ctx, id); err != nil || row.Status() != "sent" || row.Attempts != 2 {
				t.Fatalf("after sending: %+v, %v", row, err)
			}
			if strings.Contains(logs.String(), "hunter2-secret") {
				t.Fatal("the SMTP password is in the log")
			}
		})
	}
}

func lastError(t *testing.T, db *models.DB, id string) string {
	t.Helper()
	row, err := db.MailByID(context.Background(), id)
	if err != nil {
		return err.Error()
	}
	return row.LastError
}
