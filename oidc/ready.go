package oidc

import (
	"errors"

	jose "github.com/go-jose/go-jose/v4"
)

// KeysReady reports whether the signing keys are loaded: an active key for
// every algorithm Latchkey offers. It reads the in-memory key set only
// (no database query), so a readiness probe may call it often.
func (p *Provider) KeysReady() error {
	now := p.storage.keys.now()
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		if p.storage.keys.activeKey(alg, now) == nil {
			return errors.New("no active " + string(alg) + " signing key loaded")
		}
	}
	return nil
}
