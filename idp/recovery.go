package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/idp/account"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
)

// Self-service recovery (--recovery): "Lost your passkey?" on the sign-in
// pages sends a one-time setup link (the machinery of invitations) to
// every enabled account with the address given. The link adds a passkey;
// the others keep working. The requester learns nothing about whether an
// account exists, not even from how long the answer takes
// (recoveryAnswerTime); requests are limited per client IP (the "recovery"
// rate-limit group, a 429) and per address (silently: the same answer).

// Recovery modes.
const (
	RecoveryOff   = "off"
	RecoveryEmail = "email"
)

const (
	// recoveryLinkTTL bounds a recovery link's life: it travels by email,
	// so it is shorter than an admin's setup link.
	recoveryLinkTTL = time.Hour
	// recoveryPerAddress is how many recovery messages one address may be
	// sent per recoveryAddressWindow.
	recoveryPerAddress    = 3
	recoveryAddressWindow = time.Hour
	// recoveryAccounts bounds the accounts one address recovers.
	recoveryAccounts = 5
	// recoveryAnswerTime is the least time every well-formed recovery
	// request takes, whether or not an account uses the address: finding
	// the account and queuing its link in a transaction takes longer than
	// finding none (about 1 ms against 0.2 ms on SQLite), and that
	// difference would tell a stranger who has an account (timing
	// enumeration). It is well above that work even on Postgres.
	recoveryAnswerTime = 150 * time.Millisecond
)

// EventRecoveryRequested is audited for each account sent a recovery
// link, EventRecoveryRefused for one whose group forbids recovery.
const (
	EventRecoveryRequested = "recovery_requested"
	EventRecoveryRefused   = "recovery_refused"
)

func (c *Config) recoveryTTL() time.Duration { return min(c.SetupLinkTTL, recoveryLinkTTL) }

func (c *Config) validateRecovery() []string {
	switch c.Recovery {
	case RecoveryOff, RecoveryEmail:
		return nil
	}
	return []string{fmt.Sprintf("--recovery must be off or email, got %q", c.Recovery)}
}

// accountRecovery is the account pages' view of recovery.
func (s *Server) accountRecovery() account.Recovery {
	return account.Recovery{Enabled: s.cfg.Recovery == RecoveryEmail && s.mailer.Sends(), CodesEnabled: s.cfg.Recovery != RecoveryOff,
		Expires: s.cfg.recoveryTTL(), Request: s.requestRecovery}
}

// requestRecovery sends recovery links for email. Only a malformed
// address is an error; no account, a disabled one, or an address over
// its limit all end silently, as a sent link does.
func (s *Server) requestRecovery(ctx context.Context, email, clientIP, lang string) error {
	if err := mail.CheckAddress(email); err != nil {
		return err
	}
	defer answerNoSoonerThan(ctx, time.Now().Add(recoveryAnswerTime))
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	n, _, err := s.db.HitRateLimit(ctx, "recovery_address|"+hex.EncodeToString(sum[:]), recoveryAddressWindow)
	if err != nil {
		return err
	}
	if n > recoveryPerAddress {
		if n == recoveryPerAddress+1 {
			s.cfg.Logger.Warn("recovery requests for one address over the limit", "client_ip", clientIP)
		}
		return nil
	}
	users, err := s.db.UsersByEmail(ctx, email, recoveryAccounts)
	if err != nil {
		return err
	}
	for i := range users {
		u := &users[i]
		if u.Disabled {
			continue
		}
		// A group may forbid recovery by email to its members; the
		// requester is answered as always, the refusal audited.
		if off, err := s.db.RecoveryDisabledFor(ctx, u.ID); err != nil {
			return err
		} else if off {
			_ = s.db.Audit(ctx, &models.AuditEvent{Type: EventRecoveryRefused, Success: false, UserID: u.ID, IP: clientIP,
				Detail: models.JSONMap{"reason": "recovery is off for a group of the user"}})
			continue
		}
		if err := s.sendRecovery(ctx, u, clientIP, lang); err != nil {
			return err
		}
	}
	return nil
}

// answerNoSoonerThan waits until t (on the wall clock, which is what a
// stranger measures) or until ctx ends.
func answerNoSoonerThan(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// sendRecovery issues a recovery link for u and queues it, with its audit
// event, in one transaction; earlier unused links of u stop working.
func (s *Server) sendRecovery(ctx context.Context, u *models.User, clientIP, lang string) error {
	ttl := s.cfg.recoveryTTL()
	return s.db.InTx(ctx, func(tx *models.DB) error {
		raw, st, err := tx.CreateSetupToken(ctx, u.ID, ttl, "recovery")
		if err != nil {
			return err
		}
		id, err := s.mailer.Queue(ctx, tx, mail.KindRecovery, u, map[string]any{
			"Link": s.cfg.Issuer + "/setup/" + raw, "Expires": ttl, "ClientIP": clientIP, "Lang": lang})
		if err != nil {
			return err
		}
		return tx.Audit(ctx, &models.AuditEvent{Type: EventRecoveryRequested, Success: true, UserID: u.ID, IP: clientIP,
			Detail: models.JSONMap{"setup_link": st.ID, "expires_at": st.ExpiresAt, "mail": id}})
	})
}
