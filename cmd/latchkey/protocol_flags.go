package main

import "github.com/latchkey-idp/latchkey/idp"

// protocolFlags are the serve flags of OAuth protocol extensions (issue 21).
type protocolFlags struct {
	DPoPNonce        bool     `name:"dpop-nonce" help:"Require a server nonce in every DPoP proof (RFC 9449 §8): a proof without the current one is answered use_dpop_nonce with the nonce in DPoP-Nonce." env:"LATCHKEY_DPOP_NONCE"`
	Registration     string   `name:"registration" help:"Dynamic client registration at /oauth/register (RFC 7591/7592): off; token (an initial access token from 'registration token add' is required); open (also without a token, for redirect URIs matching --registration-redirect-patterns)." default:"off" enum:"off,token,open" env:"LATCHKEY_REGISTRATION"`
	RegistrationURIs []string `name:"registration-redirect-patterns" help:"Redirect URIs open registration accepts without an initial access token; * matches within a host label, port or path segment (https://*.apps.example.com/callback, http://127.0.0.1:*/callback)." env:"LATCHKEY_REGISTRATION_REDIRECT_PATTERNS" sep:"," placeholder:"PATTERN"`
	RegistrationOpen int      `name:"registration-open-limit" help:"How many clients open registration may hold at once; past it, only registrations with an initial access token are accepted." default:"1000" env:"LATCHKEY_REGISTRATION_OPEN_LIMIT"`
	RequirePAR       bool     `name:"require-par" help:"Accept only authorization requests pushed to the PAR endpoint (RFC 9126) from every client; without it a client can still require PAR for itself (clients add/update --require-par)." env:"LATCHKEY_REQUIRE_PAR"`
}

// apply copies the flags into cfg.
func (p *protocolFlags) apply(cfg *idp.Config) {
	cfg.OIDC.RequirePAR = p.RequirePAR
	cfg.OIDC.DPoPNonce = p.DPoPNonce
	cfg.OIDC.Registration = p.Registration
	cfg.OIDC.RegistrationRedirectPatterns = p.RegistrationURIs
	cfg.OIDC.RegistrationOpenLimit = p.RegistrationOpen
}
