package idp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/idp/account"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
)

// Recovery codes: a signed-in user generates ten one-time codes on the
// account page (shown once; regenerating replaces them). On "Lost your
// passkey?" a username or address and one code lead, like a recovery
// link, to adding a new passkey; the code is spent and the owner is sent
// a notice. Each code is 60 random bits; only HMAC-SHA-256(key, user ID,
// code) is stored, under a key sealed with the master key
// (recoveryCodeKeyName in the secrets table, re-sealed by `master-key
// rotate`): a stolen database alone cannot test guesses. Guessing online
// meets the per-IP limit of the "recovery" group and a per-account limit.

const (
	recoveryCodeKeyName = "recovery_code_key" //nolint:gosec // G101: a secret's name, not a secret
	recoveryCodeCount   = 10
	// recoveryCodeTries is how many codes may be tried per account per
	// recoveryAddressWindow (a hit of any kind counts).
	recoveryCodeTries = 5
	// codeAlphabet is Crockford's base32 without I, L, O, U: unambiguous
	// to read and type.
	codeAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
)

// Audit events of recovery codes.
const (
	EventRecoveryCodesCreated = "recovery_codes_created"
	EventRecoveryCodeUsed     = "recovery_code_used"
	EventRecoveryCodeFailed   = "recovery_code_failed"
)

// loadRecoveryCodeKey returns the MAC key, creating it on first use.
func loadRecoveryCodeKey(ctx context.Context, db *models.DB, sealer *models.Sealer) ([]byte, error) {
	aad := []byte(recoveryCodeKeyName)
	sealed, err := db.SecretValue(ctx, recoveryCodeKeyName, func() ([]byte, error) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return sealer.Seal(k, aad), nil
	})
	if err != nil {
		return nil, fmt.Errorf("load recovery code key: %w", err)
	}
	key, err := sealer.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("recovery code key: %w", err)
	}
	return key, nil
}

// newRecoveryCode returns a code such as "7k2m-9qfx-3d8h".
func newRecoveryCode() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(codeAlphabet[int(c)%32]) // 256 is a multiple of 32: uniform
	}
	return sb.String()
}

// normalizeRecoveryCode lowercases a typed code and drops spaces and
// dashes; it returns "" for anything that cannot be a code.
func normalizeRecoveryCode(s string) string {
	s = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
	if len(s) != 12 {
		return ""
	}
	for _, r := range s {
		if !strings.ContainsRune(codeAlphabet, r) {
			return ""
		}
	}
	return s
}

func (s *Server) recoveryCodeMAC(userID, code string) []byte {
	m := hmac.New(sha256.New, s.recoveryKey)
	m.Write([]byte(userID + "\x00" + code))
	return m.Sum(nil)
}

// recoveryAllowed reports whether u may recover by itself: recovery is
// not off globally, u is enabled and no group of u forbids it.
func (s *Server) recoveryAllowed(ctx context.Context, u *models.User) (bool, error) {
	if s.cfg.Recovery == RecoveryOff || u.Disabled {
		return false, nil
	}
	off, err := s.db.RecoveryDisabledFor(ctx, u.ID)
	return !off, err
}

// accountRecoveryCodes is the account pages' view of recovery codes.
func (s *Server) accountRecoveryCodes() account.RecoveryCodes {
	return account.RecoveryCodes{Allowed: s.recoveryAllowed, Generate: s.generateRecoveryCodes, Use: s.useRecoveryCode,
		Left: s.db.UnusedRecoveryCodes}
}

// generateRecoveryCodes replaces u's codes with ten new ones, audited,
// and returns them (the only time they are seen).
func (s *Server) generateRecoveryCodes(ctx context.Context, u *models.User, clientIP string) ([]string, error) {
	if ok, err := s.recoveryAllowed(ctx, u); err != nil {
		return nil, err
	} else if !ok {
		return nil, account.ErrRecoveryOff
	}
	codes := make([]string, recoveryCodeCount)
	macs := make([][]byte, recoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		macs[i] = s.recoveryCodeMAC(u.ID, normalizeRecoveryCode(codes[i]))
	}
	err := s.db.InTx(ctx, func(tx *models.DB) error {
		if err := tx.ReplaceRecoveryCodes(ctx, u.ID, macs); err != nil {
			return err
		}
		return tx.Audit(ctx, &models.AuditEvent{Type: EventRecoveryCodesCreated, Success: true, UserID: u.ID, ActorID: u.ID, IP: clientIP,
			Detail: models.JSONMap{"count": recoveryCodeCount}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// useRecoveryCode spends a code of the account named by who (a username
// or an address) and returns a new one-time setup link path for it.
// Unknown accounts, wrong, used or malformed codes, accounts over their
// limit and accounts that may not recover all give
// account.ErrRecoveryCode: the requester cannot tell them apart.
func (s *Server) useRecoveryCode(ctx context.Context, who, code, clientIP, lang string) (string, error) {
	who = strings.TrimSpace(who)
	if who == "" || len(who) > mail.MaxAddress || normalizeRecoveryCode(code) == "" {
		return "", account.ErrRecoveryCode
	}
	// As the email form: no answer sooner than recoveryAnswerTime, so an
	// unknown account does not answer faster than a wrong code.
	defer answerNoSoonerThan(ctx, time.Now().Add(recoveryAnswerTime))
	u, err := s.recoveryCodeUser(ctx, who)
	if err != nil {
		return "", err
	}
	if u == nil {
		return "", account.ErrRecoveryCode
	}
	fail := func(reason string) (string, error) {
		_ = s.db.Audit(ctx, &models.AuditEvent{Type: EventRecoveryCodeFailed, Success: false, UserID: u.ID, IP: clientIP,
			Detail: models.JSONMap{"reason": reason}})
		return "", account.ErrRecoveryCode
	}
	n, _, err := s.db.HitRateLimit(ctx, "recovery_code|"+u.ID, recoveryAddressWindow)
	if err != nil {
		return "", err
	}
	if n > recoveryCodeTries {
		return fail("too many tries for this account")
	}
	if ok, err := s.recoveryAllowed(ctx, u); err != nil {
		return "", err
	} else if !ok {
		return fail("recovery is off for the user")
	}
	var raw string
	err = s.db.InTx(ctx, func(tx *models.DB) error {
		if err := tx.SpendRecoveryCode(ctx, u.ID, s.recoveryCodeMAC(u.ID, normalizeRecoveryCode(code))); err != nil {
			return err
		}
		var st *models.SetupToken
		var err error
		if raw, st, err = tx.CreateSetupToken(ctx, u.ID, s.cfg.recoveryTTL(), "recovery_code"); err != nil {
			return err
		}
		left, err := tx.UnusedRecoveryCodes(ctx, u.ID)
		if err != nil {
			return err
		}
		mailID := ""
		if s.mailer.Sends() && u.Email != "" {
			mailID, err = s.mailer.Queue(ctx, tx, mail.KindRecoveryCodeUsed, u, map[string]any{
				"ClientIP": clientIP, "Left": int(left), "AccountURL": s.cfg.Issuer + "/account", "Lang": lang})
			if err != nil && !errors.Is(err, mail.ErrInvalid) {
				return err
			}
		}
		return tx.Audit(ctx, &models.AuditEvent{Type: EventRecoveryCodeUsed, Success: true, UserID: u.ID, IP: clientIP,
			Detail: models.JSONMap{"setup_link": st.ID, "codes_left": left, "mail": mailID}})
	})
	if errors.Is(err, models.ErrNotFound) {
		return fail("wrong or used code")
	}
	if err != nil {
		return "", err
	}
	return "/setup/" + raw, nil
}

// recoveryCodeUser finds the one account named by who: a username, or
// an address that exactly one account uses. nil when there is none.
func (s *Server) recoveryCodeUser(ctx context.Context, who string) (*models.User, error) {
	if strings.Contains(who, "@") {
		users, err := s.db.UsersByEmail(ctx, who, 2)
		if err != nil {
			return nil, err
		}
		if len(users) == 1 {
			return &users[0], nil
		}
	}
	u, err := s.db.UserByUsername(ctx, who)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	return u, err
}
