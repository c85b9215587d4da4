package passkeys

import (
	"context"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"
)

// Attestation problems; the policy reason is "policy_" + problem.
const (
	reasonNoMetadata           = "no_metadata"
	reasonAttestationMissing   = "attestation_missing"
	reasonAttestationSelf      = "attestation_self"
	reasonAttestationUntrusted = "attestation_untrusted"
	reasonRevoked              = "authenticator_revoked"
)

// attestationResult is what the attestation of a passkey proved.
type attestationResult struct {
	// verified: a certificate chain (x5c) signed the attestation and
	// chains to a trust anchor of the authenticator's metadata entry,
	// whose status is acceptable.
	verified bool
	// problem is one of the reason constants above when not verified.
	problem     string
	description string // the metadata's model name, or ""
	cause       error
}

// checkAttestation evaluates an attestation object that go-webauthn has
// already verified cryptographically (the statement's signature, WebAuthn
// L3 §8) against the imported FIDO metadata: entry present, trust anchor,
// attestation type and status (WebAuthn L3 §7.1 steps 23–24, left to the
// relying party). It runs for every registration, so a passkey that
// brought a good attestation stays acceptable when the policy tightens.
func (s *Service) checkAttestation(ctx context.Context, att *protocol.AttestationObject) (attestationResult, error) {
	md, err := s.metadata(ctx)
	if err != nil {
		return attestationResult{}, fail(ErrInternal, fmt.Errorf("load metadata: %w", err))
	}
	aaguid := att.AuthData.AttData.AAGUID
	res := attestationResult{description: md.description(aaguid)}
	if md.revoked(aaguid) {
		res.problem = reasonRevoked
		return res, nil
	}
	x5c, _ := att.AttStatement["x5c"].([]any)
	switch {
	case att.Format == "" || att.Format == string(protocol.AttestationFormatNone):
		res.problem = reasonAttestationMissing
		return res, nil
	case len(x5c) == 0 && att.Format == string(protocol.AttestationFormatPacked):
		res.problem = reasonAttestationSelf
		return res, nil
	case len(x5c) == 0:
		res.problem = reasonAttestationUntrusted
		return res, nil
	case md == nil:
		res.problem = reasonNoMetadata
		return res, nil
	}
	var id uuid.UUID
	if len(aaguid) == 16 {
		id, _ = uuid.FromBytes(aaguid)
	}
	if perr := protocol.ValidateMetadataWithAuthenticatorData(ctx, md.provider, id, att.Type, att.Format, x5c, &att.AuthData); perr != nil {
		res.problem, res.cause = reasonAttestationUntrusted, perr
		return res, nil //nolint:nilerr // an untrusted attestation is a result (res.problem), not a failure
	}
	res.verified = true
	return res, nil
}

// storedAttestation rebuilds the attestation facts of a stored passkey
// with the current metadata (a model may have been revoked since).
func storedAttestation(md *loadedMDS, verified bool, format, typ string, aaguid []byte) attestationResult {
	res := attestationResult{verified: verified, description: md.description(aaguid)}
	switch {
	case md.revoked(aaguid):
		res.verified, res.problem = false, reasonRevoked
	case verified:
	case format == "" || format == string(protocol.AttestationFormatNone):
		res.problem = reasonAttestationMissing
	case typ == "self" || typ == "basic_surrogate":
		res.problem = reasonAttestationSelf
	case md == nil:
		res.problem = reasonNoMetadata
	default:
		res.problem = reasonAttestationUntrusted
	}
	return res
}

// ACR values (OpenID Connect Extended Authentication Profile ACR values,
// "phr" and "phrh"). Every Latchkey sign-in is a passkey with user
// verification, so it is at least phishing-resistant.
const (
	// ACRPhishingResistant: a passkey with user verification.
	ACRPhishingResistant = "phr"
	// ACRPhishingResistantHardware: a device-bound passkey whose
	// attestation was verified against FIDO metadata, so its key is known
	// to be held by hardware.
	ACRPhishingResistantHardware = "phrh"
)

// achievedACR is the acr a sign-in with the passkey proves.
func achievedACR(deviceBound, attestationVerified bool) string {
	if deviceBound && attestationVerified {
		return ACRPhishingResistantHardware
	}
	return ACRPhishingResistant
}

// ACRSatisfies reports whether a sign-in that achieved acr meets an
// authorization request's acr_values: phrh meets phr and phrh, phr meets
// phr. Values Latchkey does not know are ignored (acr_values is a
// voluntary request, OpenID Connect Core §3.1.2.1), so a request naming
// only unknown values is met by any sign-in.
func ACRSatisfies(acr string, requested []string) bool {
	known := false
	for _, r := range requested {
		switch r {
		case ACRPhishingResistant:
			return true
		case ACRPhishingResistantHardware:
			known = true
			if acr == ACRPhishingResistantHardware {
				return true
			}
		}
	}
	return !known
}
