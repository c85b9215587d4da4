package passkeys

import (
	"errors"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
)

// Error kinds. Every error returned by the Begin and Finish methods is an
// *Error whose Kind is exactly one of these, so callers switch with
// errors.Is and never see go-webauthn types.
var (
	// ErrBadRequest: the body is malformed, oversized or cannot be parsed.
	ErrBadRequest = errors.New("passkeys: bad request")
	// ErrCeremonyNotFound: the challenge is unknown or was already answered
	// (a replay).
	ErrCeremonyNotFound = errors.New("passkeys: ceremony not found")
	// ErrCeremonyExpired: the challenge existed but is too old.
	ErrCeremonyExpired = errors.New("passkeys: ceremony expired")
	// ErrCeremonyMismatch: the ceremony is of the other kind or bound to
	// another auth request.
	ErrCeremonyMismatch = errors.New("passkeys: ceremony mismatch")
	// ErrVerification: signature, origin, RP ID, challenge, user presence or
	// user verification checks failed.
	ErrVerification = errors.New("passkeys: verification failed")
	// ErrUnknownCredential: the credential or user handle is not known, or
	// the credential does not belong to the user named by the handle.
	ErrUnknownCredential = errors.New("passkeys: unknown credential")
	// ErrUserDisabled: the account is disabled.
	ErrUserDisabled = errors.New("passkeys: user disabled")
	// ErrCloneDetected: the signature counter did not increase (WebAuthn L3
	// §6.1.1); the credential is flagged and refused.
	ErrCloneDetected = errors.New("passkeys: clone detected")
	// ErrSetupLinkInvalid: the setup link was used or expired before the
	// registration finished.
	ErrSetupLinkInvalid = errors.New("passkeys: setup link invalid")
	// ErrPolicy: the passkey policy refuses this passkey (a synced passkey
	// under device-bound, a missing or untrusted attestation under attested,
	// a denied or revoked authenticator model, or a flagged passkey past its
	// grace period). Message explains why and what would work.
	ErrPolicy = errors.New("passkeys: refused by policy")
	// ErrInternal: a server-side failure (database, encoding). Not the
	// client's fault; map it to a 5xx.
	ErrInternal = errors.New("passkeys: internal error")
)

// Error is returned by every Begin and Finish method. Message is safe to
// show to the user; Err is the cause (often a go-webauthn error) for logs.
type Error struct {
	Kind    error
	Message string
	Err     error
	// Args is the data of a policy refusal's message (key/value pairs,
	// such as "Name" and the authenticator), for pages that translate it
	// by its Reason.
	Args []any
	// UserID and CredentialID name, for the audit log, whose passkey a
	// refused sign-in answered with: UserID once the credential is known to
	// be that user's, CredentialID (base64url, at most 64 characters) as
	// the authenticator sent it, also when no account holds it.
	UserID, CredentialID string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("passkeys: error")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
		var pe *protocol.Error
		if errors.As(e.Err, &pe) && pe.DevInfo != "" {
			b.WriteString(" (")
			b.WriteString(pe.DevInfo)
			b.WriteString(")")
		}
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Internal causes that Reason tells apart. They never leave the package
// except wrapped in *Error.
var (
	errUVMissing         = errors.New("user verification flag not set")
	errUPMissing         = errors.New("user presence flag not set")
	errNotDiscoverable   = errors.New("credential is not discoverable (credProps.rk false)")
	errCredentialExists  = errors.New("credential already registered")
	errCredentialNotOwnd = errors.New("credential does not belong to the user of the user handle")
	errUnknownUserHandle = errors.New("no user with this user handle")
	errSessionExpired    = errors.New("session data expired")
)

var messages = map[error]string{
	ErrBadRequest:        "The passkey response could not be read. Please try again.",
	ErrCeremonyNotFound:  "This passkey request is no longer valid. Please start again.",
	ErrCeremonyExpired:   "This passkey request took too long and expired. Please start again.",
	ErrCeremonyMismatch:  "This passkey response belongs to another request. Please start again.",
	ErrVerification:      "The passkey could not be verified. Please try again.",
	ErrUnknownCredential: "This passkey is not registered here. It may have been removed.",
	ErrUserDisabled:      "This account is disabled. Contact your administrator.",
	ErrCloneDetected:     "This passkey has been blocked because it may have been copied. Contact your administrator.",
	ErrSetupLinkInvalid:  "This setup link has already been used or has expired. Ask your administrator for a new one.",
	ErrInternal:          "Something went wrong on our side. Please try again later.",
	ErrPolicy:            "Your organisation's passkey policy does not accept this passkey.",
}

// fail builds an *Error of kind with the default message for the kind.
func fail(kind, cause error) *Error {
	msg := messages[kind]
	switch {
	case errors.Is(cause, errUVMissing):
		msg = "Your authenticator did not verify you (PIN, fingerprint or face). Please try again."
	case errors.Is(cause, errNotDiscoverable):
		msg = "This authenticator cannot store a passkey. Please use another one."
	case errors.Is(cause, errCredentialExists):
		msg = "This passkey is already registered."
	}
	return &Error{Kind: kind, Message: msg, Err: cause}
}

// Reason returns a short machine-readable reason for audit logs, such as
// "replayed_challenge", "wrong_origin" or "clone_detected". It returns
// "" for nil and "error" for errors that are not from this package.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return "error"
	}
	// Kind holds one of this package's sentinels itself, never a wrapped error.
	//nolint:errorlint // compared by identity on purpose (see above)
	switch e.Kind {
	case ErrBadRequest:
		return "bad_request"
	case ErrCeremonyNotFound:
		return "replayed_challenge"
	case ErrCeremonyExpired:
		return "expired_challenge"
	case ErrCeremonyMismatch:
		return "ceremony_mismatch"
	case ErrUnknownCredential:
		if errors.Is(e.Err, errCredentialNotOwnd) {
			return "credential_not_owned"
		}
		return "unknown_credential"
	case ErrUserDisabled:
		return "user_disabled"
	case ErrCloneDetected:
		return "clone_detected"
	case ErrSetupLinkInvalid:
		return "setup_link_invalid"
	case ErrInternal:
		return "internal_error"
	case ErrPolicy:
		return policyReason(e.Err)
	case ErrVerification:
		return verificationReason(e.Err)
	}
	return "error"
}

// verificationReason classifies a verification failure from its cause.
func verificationReason(cause error) string {
	switch {
	case errors.Is(cause, errUVMissing):
		return "uv_missing"
	case errors.Is(cause, errUPMissing):
		return "up_missing"
	case errors.Is(cause, errNotDiscoverable):
		return "not_discoverable"
	case errors.Is(cause, errCredentialExists):
		return "credential_exists"
	}
	var pe *protocol.Error
	if !errors.As(cause, &pe) {
		return "verification_failed"
	}
	details, info := strings.ToLower(pe.Details), strings.ToLower(pe.DevInfo)
	switch {
	case pe.Type == protocol.ErrAssertionSignature.Type:
		return "bad_signature"
	case strings.Contains(details, "origin"):
		return "wrong_origin"
	case strings.Contains(details, "challenge"):
		return "challenge_mismatch"
	case strings.Contains(details, "ceremony type"):
		return "wrong_ceremony_type"
	case strings.Contains(info, "rp hash mismatch"):
		return "wrong_rp_id"
	case strings.Contains(info, "user verification"):
		return "uv_missing"
	case strings.Contains(info, "user presence"):
		return "up_missing"
	case strings.Contains(details, "backup"):
		return "backup_flags_inconsistent"
	case strings.Contains(details, "signature"):
		return "bad_signature"
	}
	return "verification_failed"
}
