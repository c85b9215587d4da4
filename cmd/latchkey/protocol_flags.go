package main

import "github.com/latchkey-idp/latchkey/idp"

// protocolFlags are the serve flags of OAuth protocol extensions (issue 21).
type protocolFlags struct {
	RequirePAR bool `name:"require-par" help:"Accept only authorization requests pushed to the PAR endpoint (RFC 9126) from every client; without it a client can still require PAR for itself (clients add/update --require-par)." env:"LATCHKEY_REQUIRE_PAR"`
}

// apply copies the flags into cfg.
func (p *protocolFlags) apply(cfg *idp.Config) {
	cfg.OIDC.RequirePAR = p.RequirePAR
}
