package passkeys

import (
	"bytes"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey-idp/latchkey/models"
)

// webauthnUser adapts a models.User and its passkeys to webauthn.User.
type webauthnUser struct {
	user  *models.User
	creds []models.Credential
}

var _ webauthn.User = (*webauthnUser)(nil)

// WebAuthnID is the random user handle, never the username (WebAuthn L3
// §14.6.1).
func (u *webauthnUser) WebAuthnID() []byte { return u.user.WebAuthnID }

func (u *webauthnUser) WebAuthnName() string { return u.user.Username }

func (u *webauthnUser) WebAuthnDisplayName() string {
	if u.user.DisplayName != "" {
		return u.user.DisplayName
	}
	return u.user.Username
}

func (u *webauthnUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(u.creds))
	for i := range u.creds {
		out = append(out, toWebAuthnCredential(&u.creds[i]))
	}
	return out
}

// credential returns the user's passkey with the given credential ID.
func (u *webauthnUser) credential(id []byte) *models.Credential {
	for i := range u.creds {
		if bytes.Equal(u.creds[i].CredentialID, id) {
			return &u.creds[i]
		}
	}
	return nil
}

// descriptors lists the user's passkeys for excludeCredentials.
func (u *webauthnUser) descriptors() []protocol.CredentialDescriptor {
	out := make([]protocol.CredentialDescriptor, 0, len(u.creds))
	for i := range u.creds {
		c := toWebAuthnCredential(&u.creds[i])
		out = append(out, c.Descriptor())
	}
	return out
}

// toWebAuthnCredential converts a stored passkey into go-webauthn's
// credential record, flags included: go-webauthn compares the stored
// BackupEligible flag with every assertion (WebAuthn L3 §7.2 step 19).
func toWebAuthnCredential(c *models.Credential) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, 0, len(c.Transports))
	for _, t := range c.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:                c.CredentialID,
		PublicKey:         c.PublicKey,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
		Transport:         transports,
		Flags: webauthn.CredentialFlags{
			UserPresent:    c.UserPresent,
			UserVerified:   c.UserVerified,
			BackupEligible: c.BackupEligible,
			BackupState:    c.BackupState,
		},
		Authenticator: webauthn.Authenticator{
			AAGUID:       c.AAGUID,
			SignCount:    c.SignCount,
			CloneWarning: c.CloneWarning,
		},
	}
}

// fromWebAuthnCredential converts a freshly registered credential into a
// models.Credential (without ID, user or name).
func fromWebAuthnCredential(c *webauthn.Credential) *models.Credential {
	transports := make(models.StringList, 0, len(c.Transport))
	for _, t := range c.Transport {
		transports = append(transports, string(t))
	}
	return &models.Credential{
		CredentialID:      c.ID,
		PublicKey:         c.PublicKey,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
		AAGUID:            c.Authenticator.AAGUID,
		Transports:        transports,
		UserPresent:       c.Flags.UserPresent,
		UserVerified:      c.Flags.UserVerified,
		BackupEligible:    c.Flags.BackupEligible,
		BackupState:       c.Flags.BackupState,
		SignCount:         c.Authenticator.SignCount,
		CloneWarning:      c.Authenticator.CloneWarning,
	}
}
