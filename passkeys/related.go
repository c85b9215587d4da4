package passkeys

import (
	"github.com/go-webauthn/webauthn/protocol"
)

// RelatedOriginsDocument returns the JSON of the WebAuthn related origins
// document ({"origins": [...]}, WebAuthn L3 §5.11.1) listing the RP
// origins and the related origins, or nil when no related origin is
// configured. Browsers fetch it from https://RP-ID/.well-known/webauthn
// when a page on a related origin asks for a passkey of this RP ID.
func (s *Service) RelatedOriginsDocument() ([]byte, error) {
	if len(s.cfg.RelatedOrigins) == 0 {
		return nil, nil
	}
	doc, err := protocol.NewRelatedOrigins(append(append([]string{}, s.cfg.RPOrigins...), s.cfg.RelatedOrigins...)...)
	if err != nil {
		return nil, fail(ErrInternal, err)
	}
	return doc.Bytes()
}

// validateRelatedOrigins checks the label limit browsers apply (at most
// protocol.MaximumRelatedOriginLabels registrable domains).
func validateRelatedOrigins(rp, related []string) []string {
	if len(related) == 0 {
		return nil
	}
	if _, err := protocol.NewRelatedOrigins(append(append([]string{}, rp...), related...)...); err != nil {
		return []string{"passkeys: related origins: " + err.Error()}
	}
	return nil
}
