package idp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// mailEvery is how often each instance looks for mail to send; claims are
// exclusive (models.ClaimMail), so every instance may look.
const mailEvery = time.Second

func (c *Config) mailDefaults() {
	if c.Recovery == "" {
		c.Recovery = RecoveryEmail
	}
	if c.Mail.Service == "" {
		c.Mail.Service = c.Passkeys.RPDisplayName
	}
	if c.Mail.Now == nil {
		c.Mail.Now = c.Now
	}
	if c.Mail.Logger == nil {
		c.Mail.Logger = c.Logger
	}
}

// mailJobs delivers queued mail until ctx ends.
func (s *Server) mailJobs(ctx context.Context) {
	if !s.mailer.Sends() {
		return
	}
	every(ctx, mailEvery, true, func() {
		res, err := s.mailer.Deliver(ctx, s.db)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("deliver mail", "err", err)
		}
		s.metrics.mail.WithLabelValues("sent").Add(float64(res.Sent))
		s.metrics.mail.WithLabelValues("retried").Add(float64(res.Retried))
		s.metrics.mail.WithLabelValues("undeliverable").Add(float64(res.GivenUp))
	})
}

// Mailer is the server's mailer (tests).
func (s *Server) Mailer() *mail.Mailer { return s.mailer }

// Invitation is a queued invitation: a setup link sent by email.
type Invitation struct {
	MailID    string
	UserID    string
	Username  string
	Email     string
	ExpiresAt time.Time
}

// Invite issues a new one-time setup link for u (earlier links stop
// working) and queues it by email, in one transaction with its audit
// event: the link exists exactly when its message is queued. The link
// itself is never returned: it is only in the (sealed) message. Errors:
// mail.ErrNoAddress when u has no email, mail.ErrInvalid for a bad one.
func Invite(ctx context.Context, db *models.DB, m *mail.Mailer, issuer string, u *models.User, ttl time.Duration, actor string) (*Invitation, error) {
	if u.Disabled {
		return nil, fmt.Errorf("%w: %s is disabled; enable the account first", models.ErrInvalid, u.Username)
	}
	// Refuse early, before any link is made, so nothing changes.
	if _, err := m.Compose(mail.KindInvitation, u, map[string]any{"Link": "x", "Expires": ttl}); err != nil {
		return nil, err
	}
	inv := &Invitation{UserID: u.ID, Username: u.Username, Email: u.Email}
	err := db.InTx(ctx, func(tx *models.DB) error {
		raw, st, err := tx.CreateSetupToken(ctx, u.ID, ttl, actor)
		if err != nil {
			return err
		}
		inv.ExpiresAt = st.ExpiresAt
		link := strings.TrimRight(issuer, "/") + "/setup/" + raw
		inv.MailID, err = m.Queue(ctx, tx, mail.KindInvitation, u, map[string]any{"Link": link, "Expires": ttl})
		if err != nil {
			return err
		}
		return tx.Audit(ctx, &models.AuditEvent{Type: models.EventSetupLinkIssued, Success: true, UserID: u.ID, ActorID: actor,
			Detail: models.JSONMap{"setup_link": st.ID, "expires_at": st.ExpiresAt, "sent_by_email": inv.MailID}})
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// mailMetric counts delivery attempts by outcome.
func mailMetric(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_mail_total",
		Help: `Mail delivery attempts by outcome: "sent", "retried" (kept for a later attempt) or "undeliverable" (given up).`,
	}, []string{"outcome"})
	for _, o := range []string{"sent", "retried", "undeliverable"} {
		c.WithLabelValues(o)
	}
	reg.MustRegister(c)
	return c
}

// adminMail is the console's view of email delivery.
func (s *Server) adminMail() admin.Mail {
	return admin.Mail{Sends: s.mailer.Sends(), Invite: func(ctx context.Context, u *models.User, actor string) (string, time.Time, error) {
		inv, err := Invite(ctx, s.db, s.mailer, s.cfg.Issuer, u, s.cfg.SetupLinkTTL, actor)
		if err != nil {
			return "", time.Time{}, err
		}
		return inv.MailID, inv.ExpiresAt, nil
	}}
}

// registerNotices makes every passkey added to or removed from an account
// queue a notice to its owner, in the transaction of the change
// (models.OnCredentialChange): no path that adds or removes a passkey
// (setup link, account page, console, API) can forget it. A server that
// sends no mail queues none.
func (s *Server) registerNotices() {
	if s.mailer.Sends() {
		s.db.OnCredentialChange(s.passkeyNotice)
	}
}

// passkeyNotice queues the notice of one passkey change on tx. An owner
// without an address gets none; one whose address cannot be mailed is
// logged and does not block the change.
func (s *Server) passkeyNotice(ctx context.Context, tx *models.DB, ch models.CredentialChange) error {
	u, err := tx.UserByID(ctx, ch.Credential.UserID)
	if err != nil {
		return err
	}
	if u.Email == "" {
		return nil
	}
	kind := mail.KindPasskeyRemoved
	switch {
	case ch.NewProvider:
		kind = mail.KindNewProvider
	case ch.Added:
		kind = mail.KindPasskeyAdded
	}
	name := ch.Credential.Name
	if name == "" {
		name = "(unnamed)"
	}
	// "" for a provider that does not name itself: the template words it.
	_, err = s.mailer.Queue(ctx, tx, kind, u, map[string]any{"Passkey": name, "Provider": passkeys.ProviderName(ch.Credential.AAGUID),
		"When": s.cfg.Now(), "AccountURL": s.cfg.Issuer + "/account"})
	if errors.Is(err, mail.ErrInvalid) {
		s.cfg.Logger.Warn("passkey notice not queued", "user_id", u.ID, "kind", kind, "err", err)
		return nil
	}
	return err
}

// validateMail lists the problems of the mail and recovery settings.
func (c *Config) validateMail() []string {
	return append(c.Mail.Validate(), c.validateRecovery()...)
}
