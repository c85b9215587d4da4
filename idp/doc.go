// Package idp is Latchkey's HTTP application: New and Config, the public
// and internal echo servers, the wiring of the audience packages, the one
// route table of both listeners (routes.go), rate limits, the background
// jobs, metrics and health, and the fast path for the discovery and JWKS
// documents. Nothing imports it but cmd.
//
// One package per audience serves the pages and APIs:
//
//	idp/web      rendering, error pages (the HTTPErrorHandler), session cookie, CSRF, headers, logging
//	idp/signin   sign-in page and passkey ceremonies, consent, device approval, logout pages
//	idp/account  setup links and the user's account page
//	idp/admin    the admin console and /api/v1 (internal listener)
//
// The audience packages import idp/web, oidc, passkeys and models, never
// idp or each other: each declares what it needs in a Deps struct, filled
// in by Server.wire. Handlers parse, call models/passkeys/oidc, and
// render; they hold no protocol logic of their own.
package idp
