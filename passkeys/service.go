package passkeys

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey-idp/latchkey/models"
)

// MaxBodySize is the largest ceremony response accepted. Real responses
// are a few kilobytes; attestation certificate chains stay well below.
const MaxBodySize = 64 << 10

// Service runs WebAuthn ceremonies against the database. It is safe for
// concurrent use and keeps no state in memory between Begin and Finish.
type Service struct {
	cfg Config
	db  *models.DB
	wa  *webauthn.WebAuthn
	mds mdsCache
}

// LoginResult is a successful sign-in.
type LoginResult struct {
	User       *models.User
	Credential *models.Credential
	// AMR holds RFC 8176 values: "hwk" for a device-bound passkey
	// (BackupEligible false), otherwise "swk"; then "user" and "mfa",
	// because user verification was required and performed.
	AMR []string
	// ACR is what the sign-in proved: "phrh" for a device-bound passkey
	// with a verified attestation, otherwise "phr" (attestation.go).
	ACR string
}

// CredentialWriter writes back a credential after a sign-in: the
// repository (*models.DB), or a transaction of it (models.DB.InTx).
type CredentialWriter interface {
	UpdateCredentialAfterLogin(ctx context.Context, c *models.Credential) error
}

// SaveLogin writes what a verified sign-in reported for its credential
// (sign count, UP/UV/BE/BS flags, last use) through w. Whoever calls
// VerifyLogin or VerifyBoundLogin must call it for every result, whatever
// it then decides about the sign-in: the counter is what clone detection
// compares against next time (WebAuthn L3 §6.1.1). A nil result is a no-op.
func (s *Service) SaveLogin(ctx context.Context, w CredentialWriter, res *LoginResult) error {
	if res == nil {
		return nil
	}
	if err := w.UpdateCredentialAfterLogin(ctx, res.Credential); err != nil {
		return fail(ErrInternal, fmt.Errorf("update credential: %w", err))
	}
	return nil
}

// New checks cfg and builds a Service. The error lists every problem
// Validate found.
func New(cfg Config, db *models.DB) (*Service, error) {
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("invalid passkeys configuration: %s", strings.Join(problems, "; "))
	}
	if db == nil {
		return nil, errors.New("passkeys: database is required")
	}
	cfg = cfg.withDefaults()
	rk := true
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPDisplayName,
		RPOrigins:             append(slices.Clone(cfg.RPOrigins), cfg.RelatedOrigins...),
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: &rk,
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.LoginTimeout, TimeoutUVD: cfg.LoginTimeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.RegistrationTimeout, TimeoutUVD: cfg.RegistrationTimeout},
		},
		// Safari returns an unrequested appid output; rejecting unsolicited
		// outputs (the v0.18 default) would break sign-in there.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return &Service{cfg: cfg, db: db, wa: wa}, nil
}

// BeginRegistration starts adding a passkey for user. setupTokenID names
// the one-time setup link that authorised it ("" for a signed-in user
// adding a passkey); it is consumed only when the registration finishes.
// It returns the ceremony ID and the JSON of navigator.credentials.create
// options ({"publicKey": …}) with a discoverable credential and user
// verification required and the user's existing passkeys excluded.
// Errors: ErrUserDisabled, ErrInternal.
func (s *Service) BeginRegistration(ctx context.Context, user *models.User, setupTokenID string) (string, []byte, error) {
	if user == nil || user.ID == "" || len(user.WebAuthnID) == 0 {
		return "", nil, fail(ErrInternal, errors.New("begin registration: user without ID or user handle"))
	}
	if user.Disabled {
		return "", nil, fail(ErrUserDisabled, fmt.Errorf("user %s is disabled", user.ID))
	}
	creds, err := s.db.CredentialsByUser(ctx, user.ID)
	if err != nil {
		return "", nil, fail(ErrInternal, fmt.Errorf("load credentials: %w", err))
	}
	policy, err := s.PolicyFor(ctx, user.ID)
	if err != nil {
		return "", nil, err
	}
	wu := &webauthnUser{user: user, creds: creds}
	opts := []webauthn.RegistrationOption{
		webauthn.WithExclusions(wu.descriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	}
	if policy.Level == PolicyAttested {
		// Without "direct" the browser replaces the attestation with "none"
		// (WebAuthn L3 §5.4.7).
		opts = append(opts, webauthn.WithConveyancePreference(protocol.PreferDirectAttestation))
	}
	creation, sd, err := s.wa.BeginRegistration(wu, opts...)
	if err != nil {
		return "", nil, fail(ErrInternal, fmt.Errorf("begin registration: %w", err))
	}
	options, err := json.Marshal(creation)
	if err != nil {
		return "", nil, fail(ErrInternal, fmt.Errorf("encode creation options: %w", err))
	}
	c := &models.Ceremony{Kind: models.CeremonyRegistration, UserID: &user.ID, SetupTokenID: ptrOrNil(setupTokenID)}
	id, err := s.saveCeremony(ctx, c, sd, s.cfg.RegistrationTimeout)
	if err != nil {
		return "", nil, err
	}
	return id, options, nil
}

// FinishRegistration verifies the browser's answer (the JSON of
// PublicKeyCredential.toJSON()) to the ceremony and stores the passkey,
// named name, or after its provider, or "Passkey". A body that cannot be
// parsed is refused before the ceremony is touched; otherwise the
// ceremony is consumed first, so it can be answered once. The setup link
// of the ceremony is consumed in the same transaction that stores the
// passkey.
// Errors: ErrBadRequest, ErrCeremonyNotFound, ErrCeremonyExpired,
// ErrCeremonyMismatch, ErrVerification, ErrUnknownCredential (the user is
// gone), ErrUserDisabled, ErrSetupLinkInvalid, ErrPolicy (the user's
// passkey policy refuses this passkey; Message says why and what would
// work), ErrInternal.
func (s *Service) FinishRegistration(ctx context.Context, ceremonyID string, body []byte, name string) (*models.Credential, error) {
	return s.finishRegistration(ctx, ceremonyID, nil, body, name)
}

// RegistrationBinding is who a registration answer must belong to: the
// user the page acts for and the setup link in its URL ("" when the
// passkey is added from a signed-in account page).
type RegistrationBinding struct{ UserID, SetupTokenID string }

// FinishRegistrationBound is FinishRegistration that also refuses, with
// ErrCeremonyMismatch, a ceremony begun for another user or setup link: a
// ceremony from link B answered at link A must not add a passkey to B's
// user while the audit names A.
func (s *Service) FinishRegistrationBound(ctx context.Context, ceremonyID string, b RegistrationBinding, body []byte, name string) (*models.Credential, error) {
	return s.finishRegistration(ctx, ceremonyID, &b, body, name)
}

func (s *Service) finishRegistration(ctx context.Context, ceremonyID string, bind *RegistrationBinding, body []byte, name string) (*models.Credential, error) {
	if len(body) > MaxBodySize {
		return nil, fail(ErrBadRequest, fmt.Errorf("body of %d bytes exceeds %d", len(body), MaxBodySize))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, fail(ErrBadRequest, err)
	}
	c, sd, err := s.consumeCeremony(ctx, ceremonyID, models.CeremonyRegistration)
	if err != nil {
		return nil, err
	}
	if c.UserID == nil {
		return nil, fail(ErrInternal, errors.New("registration ceremony without user"))
	}
	if bind != nil {
		setup := ""
		if c.SetupTokenID != nil {
			setup = *c.SetupTokenID
		}
		if *c.UserID != bind.UserID || setup != bind.SetupTokenID {
			return nil, fail(ErrCeremonyMismatch, errors.New("registration ceremony begun for another user or setup link"))
		}
	}
	user, err := s.db.UserByID(ctx, *c.UserID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, fail(ErrUnknownCredential, err)
	} else if err != nil {
		return nil, fail(ErrInternal, err)
	}
	if user.Disabled {
		return nil, fail(ErrUserDisabled, fmt.Errorf("user %s is disabled", user.ID))
	}
	creds, err := s.db.CredentialsByUser(ctx, user.ID)
	if err != nil {
		return nil, fail(ErrInternal, fmt.Errorf("load credentials: %w", err))
	}
	wc, err := s.wa.CreateCredential(&webauthnUser{user: user, creds: creds}, *sd, parsed)
	if err != nil {
		return nil, classify(err)
	}
	// go-webauthn checks UP and UV because the session requires them;
	// check again so a configuration change can never weaken this.
	flags := parsed.Response.AttestationObject.AuthData.Flags
	if !flags.HasUserPresent() {
		return nil, fail(ErrVerification, errUPMissing)
	}
	if !flags.HasUserVerified() {
		return nil, fail(ErrVerification, errUVMissing)
	}
	// residentKey is required: a credential the client reports as not
	// discoverable could never sign in without a username.
	if wc.Extensions.RK != nil && !*wc.Extensions.RK {
		return nil, fail(ErrVerification, errNotDiscoverable)
	}
	policy, err := s.PolicyFor(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	att, err := s.checkAttestation(ctx, &parsed.Response.AttestationObject)
	if err != nil {
		return nil, err
	}
	if pe := decide(policy, facts{aaguid: wc.Authenticator.AAGUID, backupEligible: wc.Flags.BackupEligible, attestation: att}); pe != nil {
		return nil, failPolicy(pe)
	}
	cred := fromWebAuthnCredential(wc)
	cred.AttestationVerified = att.verified
	cred.UserID = user.ID
	cred.Name = credentialName(name, cred.AAGUID)
	cred.CreatedAt = s.db.Now()
	err = s.db.AddCredentialWithSetupToken(ctx, cred, deref(c.SetupTokenID))
	switch {
	case errors.Is(err, models.ErrExpired):
		return nil, fail(ErrSetupLinkInvalid, err)
	case errors.Is(err, models.ErrConflict):
		return nil, fail(ErrVerification, fmt.Errorf("%w: %w", errCredentialExists, err))
	case err != nil:
		return nil, fail(ErrInternal, err)
	}
	return cred, nil
}

// BeginLogin starts a discoverable (usernameless) sign-in, also used for
// conditional UI. authRequestID binds the ceremony to an OIDC auth
// request ("" for sign-ins not tied to one). It returns the ceremony ID
// and the JSON of navigator.credentials.get options ({"publicKey": …})
// with user verification required and no allowCredentials. For
// conditional UI (autofill) the page passes the same options to
// navigator.credentials.get with mediation: "conditional".
// Errors: ErrInternal.
func (s *Service) BeginLogin(ctx context.Context, authRequestID string) (string, []byte, error) {
	assertion, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return "", nil, fail(ErrInternal, fmt.Errorf("begin login: %w", err))
	}
	options, err := json.Marshal(assertion)
	if err != nil {
		return "", nil, fail(ErrInternal, fmt.Errorf("encode request options: %w", err))
	}
	c := &models.Ceremony{Kind: models.CeremonyLogin, AuthRequestID: ptrOrNil(authRequestID)}
	id, err := s.saveCeremony(ctx, c, sd, s.cfg.LoginTimeout)
	if err != nil {
		return "", nil, err
	}
	return id, options, nil
}

// VerifyLogin verifies an assertion (the JSON of
// PublicKeyCredential.toJSON()) for the ceremony, which must be bound to
// authRequestID. The user handle names the user; the credential must be
// one of theirs. As in FinishRegistration, an unparsable body is refused
// before the ceremony is touched. On success the result carries the
// credential with its new sign count and flags, not yet written: the
// caller saves them with SaveLogin. A refusal changes nothing but the consumed ceremony
// and, when the sign count did not increase, the credential's clone
// warning, which blocks the passkey from then on.
// Errors: ErrBadRequest, ErrCeremonyNotFound, ErrCeremonyExpired,
// ErrCeremonyMismatch, ErrVerification, ErrUnknownCredential,
// ErrUserDisabled, ErrCloneDetected, ErrPolicy (the passkey was flagged by
// a tightened policy and its grace period is over; a flagged passkey within
// its grace period signs in, and the first sign-in after a policy change
// flags it), ErrInternal. LoginResult.User is
// loaded without its groups.
func (s *Service) VerifyLogin(ctx context.Context, ceremonyID, authRequestID string, body []byte) (*LoginResult, error) {
	if len(body) > MaxBodySize {
		return nil, fail(ErrBadRequest, fmt.Errorf("body of %d bytes exceeds %d", len(body), MaxBodySize))
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, fail(ErrBadRequest, err)
	}
	c, sd, err := s.consumeCeremony(ctx, ceremonyID, models.CeremonyLogin)
	if err != nil {
		return nil, err
	}
	if got := deref(c.AuthRequestID); got != authRequestID {
		return nil, fail(ErrCeremonyMismatch, fmt.Errorf("ceremony bound to auth request %q, not %q", got, authRequestID))
	}
	return s.finishLogin(ctx, sd, parsed)
}

// FinishLogin is VerifyLogin followed by SaveLogin on the repository: for
// a caller whose sign-in ends with the passkey check (a re-authentication).
// Errors: VerifyLogin's.
func (s *Service) FinishLogin(ctx context.Context, ceremonyID, authRequestID string, body []byte) (*LoginResult, error) {
	res, err := s.VerifyLogin(ctx, ceremonyID, authRequestID, body)
	if err != nil {
		return nil, err
	}
	if err := s.SaveLogin(ctx, s.db, res); err != nil {
		return nil, err
	}
	return res, nil
}

// finishLogin verifies a parsed assertion against the session data of
// its challenge (a consumed ceremony, or a challenge bound to an auth
// request, bound.go) and completes the sign-in.
func (s *Service) finishLogin(ctx context.Context, sd *webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData) (_ *LoginResult, err error) {
	var (
		owner      *webauthnUser
		handlerErr error
	)
	defer func() {
		var pe *Error
		if !errors.As(err, &pe) {
			return
		}
		if pe.CredentialID = base64.RawURLEncoding.EncodeToString(parsed.RawID); len(pe.CredentialID) > 64 {
			pe.CredentialID = pe.CredentialID[:64]
		}
		if owner != nil && owner.credential(parsed.RawID) != nil {
			pe.UserID = owner.user.ID
		}
	}()
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		owner, handlerErr = s.lookupOwner(ctx, rawID, userHandle)
		if handlerErr != nil {
			return nil, handlerErr
		}
		return owner, nil
	}
	_, wc, err := s.wa.ValidatePasskeyLogin(handler, *sd, parsed)
	if handlerErr != nil {
		return nil, classify(handlerErr)
	}
	if err != nil {
		return nil, classify(err)
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return nil, fail(ErrVerification, errUVMissing)
	}
	cred := owner.credential(wc.ID)
	if cred == nil {
		return nil, fail(ErrInternal, errors.New("verified credential vanished from its owner"))
	}
	return s.completeLogin(ctx, owner.user, cred, wc, parsed.Response.AuthenticatorData.Counter)
}

// lookupOwner is the DiscoverableUserHandler: it maps the user handle to
// the user and checks that the credential is theirs (WebAuthn L3 §7.2
// step 6).
func (s *Service) lookupOwner(ctx context.Context, rawID, userHandle []byte) (*webauthnUser, error) {
	user, err := s.db.UserByWebAuthnID(ctx, userHandle)
	if errors.Is(err, models.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", errUnknownUserHandle, err)
	} else if err != nil {
		return nil, fail(ErrInternal, err)
	}
	creds, err := s.db.CredentialsByUser(ctx, user.ID)
	if err != nil {
		return nil, fail(ErrInternal, err)
	}
	wu := &webauthnUser{user: user, creds: creds}
	if wu.credential(rawID) == nil {
		if _, err := s.db.CredentialByCredentialID(ctx, rawID); err == nil {
			return nil, errCredentialNotOwnd
		}
		return nil, fail(ErrUnknownCredential, errors.New("credential ID not registered"))
	}
	return wu, nil
}

// completeLogin applies the checks that follow a valid signature and
// sets the credential's new sign count and flags (SaveLogin writes them).
func (s *Service) completeLogin(ctx context.Context, user *models.User, cred *models.Credential, wc *webauthn.Credential, counter uint32) (*LoginResult, error) {
	// WebAuthn L3 §6.1.1 and §7.2 step 22: a counter that does not increase
	// signals a possibly cloned authenticator. Latchkey refuses it and
	// keeps refusing until an admin clears the flag.
	stored := cred.SignCount
	if wc.Authenticator.CloneWarning || (counter != 0 && stored != 0 && counter <= stored) {
		if err := s.db.SetCloneWarning(ctx, cred.ID); err != nil {
			return nil, fail(ErrInternal, fmt.Errorf("set clone warning: %w", err))
		}
		cred.CloneWarning = true
		return nil, fail(ErrCloneDetected, fmt.Errorf("sign count %d after stored %d", counter, stored))
	}
	// Checked after the signature so that nobody learns the account state
	// without holding the passkey.
	if user.Disabled {
		return nil, fail(ErrUserDisabled, fmt.Errorf("user %s is disabled", user.ID))
	}
	if err := s.enforcePolicyAtLogin(ctx, cred); err != nil {
		return nil, err
	}
	cred.SignCount = wc.Authenticator.SignCount
	cred.UserPresent = wc.Flags.UserPresent
	cred.UserVerified = wc.Flags.UserVerified
	cred.BackupEligible = wc.Flags.BackupEligible
	cred.BackupState = wc.Flags.BackupState
	amr := "swk"
	if !cred.BackupEligible {
		amr = "hwk"
	}
	acr := achievedACR(!cred.BackupEligible, cred.AttestationVerified)
	return &LoginResult{User: user, Credential: cred, AMR: []string{amr, "user", "mfa"}, ACR: acr}, nil
}

// classify turns an error from go-webauthn (or from lookupOwner, which it
// wraps) into an *Error.
func classify(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, errUnknownUserHandle), errors.Is(err, errCredentialNotOwnd):
		return fail(ErrUnknownCredential, err)
	}
	var unknown *protocol.ErrorUnknownCredential
	if errors.As(err, &unknown) {
		return fail(ErrUnknownCredential, err)
	}
	var pe *protocol.Error
	if errors.As(err, &pe) && strings.Contains(pe.Details, "Session has Expired") {
		return fail(ErrCeremonyExpired, err)
	}
	return fail(ErrVerification, err)
}

// credentialName picks the stored name of a new passkey: the user's
// choice (trimmed, control characters removed, at most 64 characters),
// else the provider name from the AAGUID, else "Passkey".
func credentialName(name string, aaguid []byte) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(name))
	if r := []rune(name); len(r) > 64 {
		name = strings.TrimSpace(string(r[:64]))
	}
	if name != "" {
		return name
	}
	if p := ProviderName(aaguid); p != "" {
		return p
	}
	return "Passkey"
}
