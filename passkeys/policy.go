package passkeys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// PolicyLevel says which passkeys an organisation accepts. The levels are
// ordered: every passkey that satisfies attested satisfies device-bound,
// and every device-bound one satisfies any.
type PolicyLevel string

const (
	// PolicyAny accepts any passkey with user verification (the default).
	PolicyAny PolicyLevel = "any"
	// PolicyDeviceBound refuses backup-eligible (synced) passkeys: the
	// BE flag (WebAuthn L3 §6.1) says the private key may leave the device.
	PolicyDeviceBound PolicyLevel = "device-bound"
	// PolicyAttested is device-bound plus a verifiable attestation
	// (packed, tpm, android-key, apple, fido-u2f with a certificate chain)
	// that chains to a trust anchor of the imported FIDO metadata, whose
	// status is not revoked or compromised.
	PolicyAttested PolicyLevel = "attested"
)

// DefaultPolicyGrace is how long a passkey flagged by a tightened policy
// may still be used to sign in.
const DefaultPolicyGrace = 7 * 24 * time.Hour

func (l PolicyLevel) rank() int {
	switch l {
	case PolicyDeviceBound:
		return 1
	case PolicyAttested:
		return 2
	}
	return 0
}

// ParsePolicyLevel parses "any", "device-bound" or "attested" ("" is any).
func ParsePolicyLevel(s string) (PolicyLevel, error) {
	switch l := PolicyLevel(strings.ToLower(strings.TrimSpace(s))); l {
	case "", PolicyAny:
		return PolicyAny, nil
	case PolicyDeviceBound, PolicyAttested:
		return l, nil
	}
	return "", fmt.Errorf("passkey policy %q: want any, device-bound or attested", s)
}

// Policy is a passkey policy: a level plus AAGUID lists. An empty allow
// list allows every AAGUID; the deny list applies on top. Without a
// verified attestation an AAGUID is self-reported by the authenticator, so
// the lists are a real control only together with PolicyAttested.
type Policy struct {
	Level       PolicyLevel
	AAGUIDAllow []string // 8-4-4-4-12 hex, any case
	AAGUIDDeny  []string
	// allowNothing: allow lists of several sources had no AAGUID in common.
	allowNothing bool
}

// Validate lists the problems of p (unknown level, malformed AAGUIDs).
func (p Policy) Validate() []string {
	var probs []string
	if _, err := ParsePolicyLevel(string(p.Level)); err != nil {
		probs = append(probs, err.Error())
	}
	for _, list := range [][]string{p.AAGUIDAllow, p.AAGUIDDeny} {
		for _, a := range list {
			if _, err := NormalizeAAGUID(a); err != nil {
				probs = append(probs, err.Error())
			}
		}
	}
	return probs
}

// NormalizeAAGUID checks an AAGUID in 8-4-4-4-12 hex form and lowercases it.
func NormalizeAAGUID(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	ok := len(s) == 36
	for i := 0; ok && i < len(s); i++ {
		switch c := s[i]; i {
		case 8, 13, 18, 23:
			ok = c == '-'
		default:
			ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
		}
	}
	if !ok {
		return "", fmt.Errorf("AAGUID %q: want 8-4-4-4-12 hexadecimal digits", s)
	}
	return s, nil
}

func normalizeList(in []string) []string {
	out := make([]string, 0, len(in))
	for _, a := range in {
		if n, err := NormalizeAAGUID(a); err == nil && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Strictest combines policies: the highest level, the intersection of the
// allow lists that are set (if they share no AAGUID, nothing is allowed)
// and the union of the deny lists.
func Strictest(ps ...Policy) Policy {
	out := Policy{Level: PolicyAny}
	restricted := false
	for _, p := range ps {
		if lvl, err := ParsePolicyLevel(string(p.Level)); err == nil && lvl.rank() > out.Level.rank() {
			out.Level = lvl
		}
		out.allowNothing = out.allowNothing || p.allowNothing
		if allow := normalizeList(p.AAGUIDAllow); len(allow) > 0 {
			if !restricted {
				out.AAGUIDAllow, restricted = allow, true
			} else {
				out.AAGUIDAllow = slices.DeleteFunc(out.AAGUIDAllow, func(a string) bool { return !slices.Contains(allow, a) })
			}
			if len(out.AAGUIDAllow) == 0 {
				out.allowNothing = true
			}
		}
		for _, d := range normalizeList(p.AAGUIDDeny) {
			if !slices.Contains(out.AAGUIDDeny, d) {
				out.AAGUIDDeny = append(out.AAGUIDDeny, d)
			}
		}
	}
	return out
}

// PolicyFor returns the effective policy of a user: the strictest of the
// global policy and the policies of the user's groups.
// Errors: ErrInternal.
func (s *Service) PolicyFor(ctx context.Context, userID string) (Policy, error) {
	gps, err := s.db.GroupPoliciesForUser(ctx, userID)
	if err != nil {
		return Policy{}, fail(ErrInternal, fmt.Errorf("load group policies: %w", err))
	}
	ps := []Policy{s.cfg.Policy}
	for _, gp := range gps {
		ps = append(ps, Policy{Level: PolicyLevel(gp.Level), AAGUIDAllow: gp.AAGUIDAllow, AAGUIDDeny: gp.AAGUIDDeny})
	}
	return Strictest(ps...), nil
}

// GlobalPolicy returns the configured global policy.
func (s *Service) GlobalPolicy() Policy { return Strictest(s.cfg.Policy) }

// facts is what a policy decision looks at, for a new or a stored passkey.
type facts struct {
	aaguid         []byte
	backupEligible bool
	attestation    attestationResult
}

// decide applies p to f and returns nil or the refusal cause (an
// *policyError naming the reason and the plain-words explanation).
func decide(p Policy, f facts) *policyError {
	name := describeAuthenticator(f.aaguid, f.attestation.description)
	argName := name // "" for an unnamed one, which pages say in their language
	if name == unnamedAuthenticator {
		argName = ""
	}
	if f.attestation.problem == reasonRevoked {
		return &policyError{reason: "policy_" + reasonRevoked, args: []any{"Name", argName}, message: fmt.Sprintf(
			"This authenticator model (%s) has been reported to the FIDO Alliance as revoked or compromised, so it cannot be used. Use another passkey or security key.", name)}
	}
	if p.Level.rank() >= PolicyDeviceBound.rank() && f.backupEligible {
		synced := "This passkey can be synced to other devices"
		n := ProviderName(f.aaguid)
		if n != "" {
			synced = fmt.Sprintf("This passkey is synced (%s)", n)
		}
		return &policyError{reason: "policy_device_bound", args: []any{"Provider", n}, message: "Your organisation only accepts passkeys that stay on one device, such as a security key. " +
			synced + ". Use a hardware security key or a passkey that stays on this device."}
	}
	if p.Level == PolicyAttested && !f.attestation.verified {
		return &policyError{reason: "policy_" + f.attestation.problem, args: []any{"Name", argName}, message: attestationMessage(f.attestation.problem, name)}
	}
	aaguid := lookupKey(f.aaguid)
	if aaguid != "" && slices.Contains(p.AAGUIDDeny, aaguid) {
		return &policyError{reason: "policy_aaguid_denied", args: []any{"Name", argName}, message: fmt.Sprintf(
			"Your organisation does not accept passkeys from %s. Use another passkey provider or a security key.", name)}
	}
	if p.allowNothing || (len(p.AAGUIDAllow) > 0 && !slices.Contains(p.AAGUIDAllow, aaguid)) {
		return &policyError{reason: "policy_aaguid_not_allowed", args: []any{"Name", argName}, message: fmt.Sprintf(
			"Your organisation accepts only specific authenticator models, and %s is not one of them. Use one of the security keys or passkey providers your organisation approved.", name)}
	}
	return nil
}

func attestationMessage(problem, name string) string {
	const lead = "Your organisation only accepts authenticators whose make and model can be verified. "
	const fix = " Use a security key or device your organisation approved."
	switch problem {
	case reasonNoMetadata:
		return lead + "Latchkey has no FIDO metadata to verify authenticators with yet. Ask your administrator to import it (latchkey mds import)."
	case reasonAttestationSelf:
		return lead + "This authenticator (" + name + ") only vouched for itself (self attestation)." + fix
	case reasonAttestationUntrusted:
		return lead + "The attestation of this authenticator (" + name + ") does not chain to a manufacturer listed in the FIDO metadata." + fix
	}
	return lead + "This authenticator (" + name + ") did not say who made it (no attestation)." + fix
}

// describeAuthenticator names an authenticator for messages.
func describeAuthenticator(aaguid []byte, mdsDescription string) string {
	if n := ProviderName(aaguid); n != "" {
		return n
	}
	if mdsDescription != "" {
		return mdsDescription
	}
	if k := lookupKey(aaguid); k != "" {
		return "AAGUID " + k
	}
	return unnamedAuthenticator
}

const unnamedAuthenticator = "an unnamed authenticator"

// Problem is a policy refusal nested in another one's message data (the
// rule a passkey broke, inside "its grace period has ended"): pages say
// it by Reason and Args in their language, or English.
type Problem struct {
	Reason  string
	Args    []any
	English string
}

// policyError is the cause of an ErrPolicy refusal.
type policyError struct {
	reason  string // e.g. "policy_device_bound"
	message string // safe to show to the user, in English (logs, console)
	// args are the message's data as key/value pairs ("Name", the
	// authenticator), for pages that say it in the reader's language.
	args []any
}

func (e *policyError) Error() string { return e.reason + ": " + e.message }

func failPolicy(pe *policyError) *Error {
	return &Error{Kind: ErrPolicy, Message: pe.message, Args: pe.args, Err: pe}
}

// policyReason returns the reason of an ErrPolicy cause.
func policyReason(cause error) string {
	var pe *policyError
	if errors.As(cause, &pe) {
		return pe.reason
	}
	return "policy"
}
