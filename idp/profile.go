package idp

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey-idp/latchkey/idp/account"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
)

// A user's own change of email address (issue 22): the account page asks
// for the new address; it is sent a one-time link (models.EmailChange,
// stored hashed) and the old address a notice; following the link
// replaces the address, marks it verified and tells the old address again.

// emailChangeTTL bounds an email change link's life.
const emailChangeTTL = time.Hour

// Audit events of an email change.
const (
	EventEmailChangeRequested = "email_change_requested"
	EventEmailChanged         = "email_changed"
)

// accountProfile is the account pages' view of email changes.
func (s *Server) accountProfile() account.Profile {
	return account.Profile{Sends: s.mailer.Sends(), Expires: emailChangeTTL,
		RequestEmailChange: s.requestEmailChange, ConfirmEmailChange: s.confirmEmailChange}
}

// requestEmailChange records the change of u's address to newEmail and,
// in the same transaction, queues the link to the new address and the
// notice to the old one (when there is one), with the audit event: the
// link exists exactly when its message is queued. Errors: mail.ErrInvalid
// or models.ErrInvalid for a bad address; nothing then changes.
func (s *Server) requestEmailChange(ctx context.Context, u *models.User, newEmail, clientIP, lang string) error {
	if err := mail.CheckAddress(newEmail); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *models.DB) error {
		raw, ec, err := tx.CreateEmailChange(ctx, u.ID, newEmail, emailChangeTTL)
		if err != nil {
			return err
		}
		to := *u
		to.Email = ec.NewEmail
		id, err := s.mailer.Queue(ctx, tx, mail.KindEmailVerify, &to, map[string]any{
			"Link": s.cfg.Issuer + "/email/verify/" + raw, "Expires": emailChangeTTL, "NewEmail": ec.NewEmail, "Lang": lang})
		if err != nil {
			return err
		}
		if err := s.queueEmailNotice(ctx, tx, u, ec.NewEmail, false, lang); err != nil {
			return err
		}
		return tx.Audit(ctx, &models.AuditEvent{Type: EventEmailChangeRequested, Success: true, UserID: u.ID, ActorID: u.ID, IP: clientIP,
			Detail: models.JSONMap{"email_change": ec.ID, "new_email": ec.NewEmail, "expires_at": ec.ExpiresAt, "mail": id}})
	})
}

// queueEmailNotice tells u's current address (if any) that a change to
// newEmail was requested (done false) or made.
func (s *Server) queueEmailNotice(ctx context.Context, tx *models.DB, u *models.User, newEmail string, done bool, lang string) error {
	if u.Email == "" {
		return nil
	}
	_, err := s.mailer.Queue(ctx, tx, mail.KindEmailNotice, u, map[string]any{"NewEmail": newEmail, "Done": done,
		"When": s.cfg.Now(), "AccountURL": s.cfg.Issuer + "/account", "Lang": lang})
	if errors.Is(err, mail.ErrInvalid) {
		// An old address that cannot be mailed must not block moving
		// to a good one.
		s.cfg.Logger.Warn("email change notice not queued", "user_id", u.ID, "err", err)
		return nil
	}
	return err
}

// confirmEmailChange follows the link raw: the address changes and the
// old one is told, in one transaction. Errors: models.ErrNotFound,
// models.ErrUsed, models.ErrExpired; nothing then changes.
func (s *Server) confirmEmailChange(ctx context.Context, raw, clientIP, lang string) (*models.User, error) {
	var u *models.User
	err := s.db.InTx(ctx, func(tx *models.DB) error {
		ec, old, err := tx.ConfirmEmailChange(ctx, raw)
		if err != nil {
			return err
		}
		if u, err = tx.UserByID(ctx, ec.UserID); err != nil {
			return err
		}
		before := *u
		before.Email = old
		if old != "" && old != ec.NewEmail {
			if err := s.queueEmailNotice(ctx, tx, &before, ec.NewEmail, true, lang); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, &models.AuditEvent{Type: EventEmailChanged, Success: true, UserID: u.ID, ActorID: u.ID, IP: clientIP,
			Detail: models.JSONMap{"email_change": ec.ID, "old_email": old, "new_email": ec.NewEmail}})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}
