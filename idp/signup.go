package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey-idp/latchkey/idp/account"
	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
)

// Self-service sign-up (--signup): closed (the default), invite (sign-up
// links made by admins, each with an expiry and a number of uses) or open
// (for the addresses of --signup-domains). Every sign-up verifies its
// address before the first passkey: the page creates the account with a
// pending sign-up (models.Signup) and emails a setup link; opening it and
// creating the passkey verifies the address. An account never verified
// is purged when its link expires. The requester learns nothing about
// whether an address is taken: its owner is sent a notice instead, and
// the page answers the same.

// Sign-up policies.
const (
	SignupClosed = "closed"
	SignupInvite = "invite"
	SignupOpen   = "open"
)

const (
	// signupLinkTTL bounds the life of a verification link.
	signupLinkTTL = 24 * time.Hour
	// signupPerAddress is how many sign-up messages one address may be
	// sent per signupAddressWindow.
	signupPerAddress    = 3
	signupAddressWindow = time.Hour
	// signupAccounts bounds the accounts one address is told about.
	signupAccounts = 5
	// maxSignupName bounds a display name (as the console's).
	maxSignupName = 64
)

// Audit events of sign-up.
const (
	EventSignupRequested   = "signup_requested"  // an account was created, its verification link sent
	EventSignupExisting    = "signup_existing"   // the address was taken: its owner was sent a notice
	EventSignupRefused     = "signup_refused"    // closed, wrong domain, bad or used-up link
	EventSignupLinkAdded   = "signup_link_added" //nolint:gosec // G101: an audit event name, not a credential
	EventSignupLinkRevoked = "signup_link_revoked"
)

var domainRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

func (c *Config) signupTTL() time.Duration { return min(c.SetupLinkTTL, signupLinkTTL) }

// checkSignupPolicy checks a policy and its domains (lowercased in
// place) and returns the problems; sends tells whether mail can be sent.
func checkSignupPolicy(policy string, domains []string, sends bool) []string {
	var probs []string
	switch policy {
	case SignupClosed, SignupInvite:
		if len(domains) > 0 {
			probs = append(probs, "--signup-domains needs --signup=open")
		}
	case SignupOpen:
		if len(domains) == 0 {
			probs = append(probs, "--signup=open needs --signup-domains: the email domains that may sign up")
		}
	default:
		return []string{fmt.Sprintf("--signup must be closed, invite or open, got %q", policy)}
	}
	if policy != SignupClosed && !sends {
		probs = append(probs, fmt.Sprintf("--signup=%s needs --smtp-url: every sign-up verifies its address by email", policy))
	}
	for i, d := range domains {
		d = strings.ToLower(strings.TrimSpace(d))
		domains[i] = d
		if !domainRE.MatchString(d) || len(d) > 253 {
			probs = append(probs, fmt.Sprintf("--signup-domains: %q is not a domain name such as example.com", d))
		}
	}
	return probs
}

// validateSignup checks --signup and --signup-domains. Without --signup
// the policy is the console's (SettingSignupPolicy), closed until set.
func (c *Config) validateSignup() []string {
	if c.Signup == "" {
		if len(c.SignupDomains) > 0 {
			return []string{"--signup-domains needs --signup=open"}
		}
		return nil
	}
	return checkSignupPolicy(c.Signup, c.SignupDomains, c.Mail.SMTP != nil)
}

// signupPolicyCache bounds how stale an instance's view of a policy the
// console changed may be.
const signupPolicyCache = 5 * time.Second

// SignupPolicy is the sign-up policy in force.
type SignupPolicy struct {
	Policy  string
	Domains []string
	// Fixed: set by --signup, so the console cannot change it.
	Fixed bool
}

type cachedSignupPolicy struct {
	p  SignupPolicy
	at time.Time
}

// signupPolicy returns the policy in force: --signup, else the console's
// setting (read at most every signupPolicyCache), else closed. A stored
// policy other than closed needs mail: without SMTP it is closed.
func (s *Server) signupPolicy(ctx context.Context) (SignupPolicy, error) {
	if s.cfg.Signup != "" {
		return SignupPolicy{Policy: s.cfg.Signup, Domains: s.cfg.SignupDomains, Fixed: true}, nil
	}
	if c := s.signupCache.Load(); c != nil && time.Since(c.at) < signupPolicyCache {
		return c.p, nil
	}
	policy, domains, err := s.db.SignupSetting(ctx)
	if err != nil {
		return SignupPolicy{}, err
	}
	p := SignupPolicy{Policy: policy, Domains: domains}
	if p.Policy == "" || !s.mailer.Sends() || len(checkSignupPolicy(p.Policy, append([]string(nil), domains...), true)) > 0 {
		p = SignupPolicy{Policy: SignupClosed}
	}
	s.signupCache.Store(&cachedSignupPolicy{p: p, at: time.Now()})
	return p, nil
}

// setSignupPolicy stores the console's policy. Errors: models.ErrInvalid
// with the problems, also when --signup fixes the policy.
func (s *Server) setSignupPolicy(ctx context.Context, policy string, domains []string, actor string) error {
	if s.cfg.Signup != "" {
		return fmt.Errorf("%w: the policy is set by serve --signup=%s", models.ErrInvalid, s.cfg.Signup)
	}
	if probs := checkSignupPolicy(policy, domains, s.mailer.Sends()); len(probs) > 0 {
		return fmt.Errorf("%w: %s", models.ErrInvalid, strings.Join(probs, "; "))
	}
	if err := s.db.SetSignupSetting(ctx, policy, domains, actor); err != nil {
		return err
	}
	s.signupCache.Store(nil)
	return nil
}

// signupOffered reports whether the sign-in pages offer "Create an
// account".
func (s *Server) signupOffered(ctx context.Context) (bool, error) {
	p, err := s.signupPolicy(ctx)
	return p.Policy == SignupInvite || p.Policy == SignupOpen, err
}

// adminSignup is the console's view of the sign-up policy.
func (s *Server) adminSignup() admin.Signup {
	return admin.Signup{
		Policy: func(ctx context.Context) (string, []string, bool, error) {
			p, err := s.signupPolicy(ctx)
			return p.Policy, p.Domains, p.Fixed, err
		},
		Set: s.setSignupPolicy,
	}
}

// accountSignup is the account pages' view of sign-up.
func (s *Server) accountSignup() account.Signup {
	return account.Signup{Policy: func(ctx context.Context) (string, error) {
		p, err := s.signupPolicy(ctx)
		return p.Policy, err
	}, Expires: s.cfg.signupTTL(), Request: s.requestSignup,
		CheckLink: func(ctx context.Context, raw string) error {
			_, err := s.db.SignupLinkByRaw(ctx, raw)
			return err
		}}
}

// checkSignupName accepts a display name: valid UTF-8, no control
// characters (a CR or LF would inject a mail header, RFC 5322 §2.2), at
// most maxSignupName bytes.
func checkSignupName(n string) error {
	if !utf8.ValidString(n) || len(n) > maxSignupName {
		return account.ErrSignupName
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f {
			return account.ErrSignupName
		}
	}
	return nil
}

// requestSignup handles one sign-up request. Errors the requester sees:
// account.ErrSignupClosed, account.ErrSignupDomain, account.ErrSignupName,
// mail.ErrInvalid (the address), and for a link models.ErrNotFound,
// models.ErrExpired or models.ErrUsedUp. Whether the address is taken,
// or over its limit, never shows.
func (s *Server) requestSignup(ctx context.Context, r account.SignupRequest) error {
	refuse := func(reason string, err error) error {
		_ = s.db.Audit(ctx, &models.AuditEvent{Type: EventSignupRefused, Success: false, IP: r.ClientIP,
			Detail: models.JSONMap{"reason": reason}})
		return err
	}
	policy, err := s.signupPolicy(ctx)
	if err != nil {
		return err
	}
	var link *models.SignupLink
	switch policy.Policy {
	case SignupInvite:
		var err error
		if link, err = s.db.SignupLinkByRaw(ctx, r.Link); err != nil {
			if models.Unavailable(err) {
				return err
			}
			return refuse("sign-up link: "+err.Error(), err)
		}
	case SignupOpen:
	default:
		return refuse("sign-up is closed", account.ErrSignupClosed)
	}
	if err := mail.CheckAddress(r.Email); err != nil {
		return err
	}
	if err := checkSignupName(r.Name); err != nil {
		return err
	}
	_, domain, _ := strings.Cut(strings.ToLower(r.Email), "@")
	if policy.Policy == SignupOpen && !containsFold(policy.Domains, domain) {
		return refuse("domain not allowed", account.ErrSignupDomain)
	}
	// From here the work depends on whether the address is taken: every
	// answer takes as long (recovery.go, timing enumeration).
	defer answerNoSoonerThan(ctx, time.Now().Add(recoveryAnswerTime))
	sum := sha256.Sum256([]byte(strings.ToLower(r.Email)))
	n, _, err := s.db.HitRateLimit(ctx, "signup_address|"+hex.EncodeToString(sum[:]), signupAddressWindow)
	if err != nil {
		return err
	}
	if n > signupPerAddress {
		if n == signupPerAddress+1 {
			s.cfg.Logger.Warn("sign-up requests for one address over the limit", "client_ip", r.ClientIP)
		}
		return nil
	}
	existing, err := s.db.UsersByEmail(ctx, r.Email, signupAccounts)
	if err != nil {
		return err
	}
	ttl := s.cfg.signupTTL()
	return s.db.InTx(ctx, func(tx *models.DB) error {
		// A link's use counts whether or not the address is taken, so the
		// count tells nothing either.
		linkID := ""
		if link != nil {
			if err := tx.SpendSignupLink(ctx, link.ID); err != nil {
				return err
			}
			linkID = link.ID
		}
		if len(existing) > 0 {
			return s.signupExisting(ctx, tx, existing, r, ttl)
		}
		u := &models.User{Email: r.Email, DisplayName: strings.TrimSpace(r.Name), Locale: ""}
		if u.Username, err = freeUsername(ctx, tx, r.Email); err != nil {
			return err
		}
		if err := tx.CreateSignupAccount(ctx, u, linkID, s.cfg.Now().Add(ttl)); err != nil {
			return err
		}
		return s.sendSignupLink(ctx, tx, u, r, ttl, EventSignupRequested, linkID)
	})
}

// signupExisting answers a sign-up with a taken address: an account
// still waiting for its verification gets a new link (its owner may have
// lost the first); any other enabled one gets a notice.
func (s *Server) signupExisting(ctx context.Context, tx *models.DB, users []models.User, r account.SignupRequest, ttl time.Duration) error {
	for i := range users {
		u := &users[i]
		if u.Disabled {
			continue // as recovery: a disabled account is sent nothing
		}
		if _, err := tx.PendingSignup(ctx, u.ID); err == nil {
			if err := tx.ExtendSignup(ctx, u.ID, s.cfg.Now().Add(ttl)); err != nil {
				return err
			}
			if err := s.sendSignupLink(ctx, tx, u, r, ttl, EventSignupRequested, ""); err != nil {
				return err
			}
			continue
		} else if !errors.Is(err, models.ErrNotFound) {
			return err
		}
		id, err := s.mailer.Queue(ctx, tx, mail.KindSignupExists, u, map[string]any{
			"RecoverURL": s.cfg.Issuer + "/recover", "ClientIP": r.ClientIP, "Lang": r.Lang})
		if err != nil && !errors.Is(err, mail.ErrInvalid) {
			return err
		}
		if err := tx.Audit(ctx, &models.AuditEvent{Type: EventSignupExisting, Success: false, UserID: u.ID, IP: r.ClientIP,
			Detail: models.JSONMap{"mail": id}}); err != nil {
			return err
		}
	}
	return nil
}

// sendSignupLink issues the verification link of u (a setup link made
// by "signup": earlier ones stop working) and queues it with its audit
// event.
func (s *Server) sendSignupLink(ctx context.Context, tx *models.DB, u *models.User, r account.SignupRequest, ttl time.Duration, event, linkID string) error {
	raw, st, err := tx.CreateSetupToken(ctx, u.ID, ttl, models.SetupBySignup)
	if err != nil {
		return err
	}
	id, err := s.mailer.Queue(ctx, tx, mail.KindSignupVerify, u, map[string]any{
		"Link": s.cfg.Issuer + "/setup/" + raw, "Expires": ttl, "ClientIP": r.ClientIP, "Lang": r.Lang})
	if err != nil {
		return err
	}
	return tx.Audit(ctx, &models.AuditEvent{Type: event, Success: true, UserID: u.ID, IP: r.ClientIP,
		Detail: models.JSONMap{"setup_link": st.ID, "expires_at": st.ExpiresAt, "mail": id, "signup_link": linkID}})
}

// freeUsername makes a username from an address: the address itself
// when it is a valid username, else its allowed characters; a number is
// added while the name is taken (nobody is told it was).
func freeUsername(ctx context.Context, db *models.DB, email string) (string, error) {
	base := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == '@':
			return r
		}
		return '-'
	}, strings.ToLower(email))
	if len(base) > 58 {
		base = base[:58]
	}
	name := base
	for range 8 {
		_, err := db.UserByUsername(ctx, name)
		if errors.Is(err, models.ErrNotFound) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
		n, err := rand.Int(rand.Reader, big.NewInt(100000))
		if err != nil {
			return "", err
		}
		name = fmt.Sprintf("%s-%d", base, n.Int64())
	}
	return "", fmt.Errorf("%w: no free username for this address", models.ErrConflict)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
