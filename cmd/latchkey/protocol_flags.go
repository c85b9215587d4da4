package main

import "github.com/latchkey-idp/latchkey/idp"

// protocolFlags are the serve flags of OAuth protocol extensions (issue 21).
type protocolFlags struct {
	DPoPNonce  bool `name:"dpop-nonce" help:"Require a server nonce in every DPoP proof (RFC 9449 §8): a proof without the current one is answered use_dpop_nonce with the nonce in DPoP-Nonce." env:"LATCHKEY_DPOP_NONCE"`
	RequirePAR bool `name:"require-par" help:"Accept only authorization requests pushed to the PAR endpoint (RFC 9126) from every client; without it a client can still require PAR for itself (clients add/update --require-par)." env:"LATCHKEY_REQUIRE_PAR"`
}

// apply copies the flags into cfg.
func (p *protocolFlags) apply(cfg *idp.Config) {
	cfg.OIDC.RequirePAR = p.RequirePAR
	cfg.OIDC.DPoPNonce = p.DPoPNonce
}
