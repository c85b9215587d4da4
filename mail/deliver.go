package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/latchkey-idp/latchkey/models"
)

// Outbox is what delivery needs of the database.
type Outbox interface {
	ClaimMail(ctx context.Context, limit int, lease time.Duration) ([]models.OutboxMessage, error)
	FinishMail(ctx context.Context, id, errMsg string, retryAt time.Time) error
}

// Batch is how many messages one round claims.
const Batch = 20

// Result counts one round of Deliver.
type Result struct{ Sent, Retried, GivenUp int }

// Deliver claims due messages and sends them in one SMTP session, then
// records each result: sent; retried after RetryBase·2^(attempts-1) (at
// most RetryCap); or given up after MaxAttempts attempts, or at once on a
// permanent SMTP answer (5xx, RFC 5321 §4.2.1). It returns early with
// nothing claimed when no SMTP server is configured.
func (m *Mailer) Deliver(ctx context.Context, ob Outbox) (Result, error) {
	var res Result
	if m.cfg.SMTP == nil {
		return res, nil
	}
	// The lease covers one SMTP session per message in the worst case.
	rows, err := ob.ClaimMail(ctx, Batch, m.cfg.Timeout*(Batch+1))
	if err != nil || len(rows) == 0 {
		return res, err
	}
	client, err := m.client()
	if err != nil {
		return res, err
	}
	dialCtx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	dialErr := client.DialWithContext(dialCtx)
	cancel()
	if dialErr == nil {
		defer func() { _ = client.Close() }()
	}
	// Results are recorded even when ctx ends (the server stops) in the
	// middle of the round: an unrecorded claim would hold the message for
	// the whole lease, and a sent one would go out again after it.
	record, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelRecord()
	var errs []error
	for i := range rows {
		r := &rows[i]
		sendErr := dialErr
		if sendErr == nil {
			sendErr = m.send(client, r)
		}
		retryAt, outcome := m.next(r, sendErr)
		msg := ""
		if sendErr != nil {
			msg = sendErr.Error()
			m.cfg.Logger.Warn("mail not delivered", "mail", r.ID, "kind", r.Kind, "attempt", r.Attempts, "outcome", outcome, "err", msg)
		}
		switch outcome {
		case "sent":
			res.Sent++
		case "retry":
			res.Retried++
		default:
			res.GivenUp++
		}
		if err := ob.FinishMail(record, r.ID, msg, retryAt); err != nil {
			errs = append(errs, fmt.Errorf("record mail %s: %w", r.ID, err))
		}
	}
	return res, errors.Join(errs...)
}

// next decides what follows an attempt: the retry time (zero: none) and
// "sent", "retry" or "undeliverable".
func (m *Mailer) next(r *models.OutboxMessage, err error) (time.Time, string) {
	if err == nil {
		return time.Time{}, "sent"
	}
	var se *gomail.SendError
	permanent := errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600
	if permanent || r.Attempts >= m.cfg.MaxAttempts {
		return time.Time{}, "undeliverable"
	}
	wait := m.cfg.RetryBase
	for i := int64(1); i < r.Attempts && wait < m.cfg.RetryCap; i++ {
		wait *= 2
	}
	return m.cfg.Now().Add(min(wait, m.cfg.RetryCap)), "retry"
}

// send opens the sealed body and sends one message on the session.
func (m *Mailer) send(client *gomail.Client, r *models.OutboxMessage) error {
	raw, err := m.sealer.Open(r.Body, []byte(r.ID))
	if err != nil {
		return fmt.Errorf("open the sealed message (another master key?): %w", err)
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("decode the message: %w", err)
	}
	msg := gomail.NewMsg()
	if err := msg.FromFormat(m.from.Name, m.from.Address); err != nil {
		return err
	}
	if err := msg.AddToFormat(b.ToName, r.Recipient); err != nil {
		return err
	}
	msg.Subject(r.Subject)
	msg.SetMessageID()
	msg.SetDate()
	// RFC 3834 §5: an automatic message; auto-responders should not answer.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, b.Text)
	lb := m.branding()
	if b.Logo && len(lb.Logo) == 0 {
		// The logo was removed since the message was queued: no broken image.
		b.HTML, b.Logo = logoImg.ReplaceAllString(b.HTML, ""), false
	}
	msg.AddAlternativeString(gomail.TypeTextHTML, b.HTML)
	if b.Logo { // brand.go
		if err := msg.EmbedReader("logo"+logoExt(lb.LogoType), bytes.NewReader(lb.Logo), gomail.WithFileContentID(LogoCID),
			gomail.WithFileContentType(gomail.ContentType(lb.LogoType))); err != nil {
			return err
		}
	}
	return client.Send(msg)
}

// client builds a go-mail client for the configured server. The TLS
// policy is mandatory unless the URL said tls=off (loopback only,
// ParseSMTPURL).
func (m *Mailer) client() (*gomail.Client, error) {
	s := m.cfg.SMTP
	opts := []gomail.Option{gomail.WithPort(s.Port), gomail.WithTimeout(m.cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12, RootCAs: m.cfg.RootCAs})}
	switch s.Security {
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case Plain:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if s.Security == Plain {
			auth = gomail.SMTPAuthPlainNoEnc // loopback only
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.Username), gomail.WithPassword(s.password))
	}
	c, err := gomail.NewClient(s.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client for %s: %w", s, err)
	}
	return c, nil
}
