// Package passkeys runs Latchkey's WebAuthn ceremonies with go-webauthn:
// passkey registration (from a one-time setup link or the account page),
// discoverable (usernameless) sign-in including conditional UI, the
// single-use challenge state behind them, and display names of passkey
// providers from their AAGUID.
//
// It imports models (and go-webauthn); go-webauthn types never leave it.
// Callers pass context, IDs and the raw JSON request bodies, and get back
// JSON options for the browser and models types.
//
// Flow:
//
//	step                 browser                          server (this package)
//	BeginRegistration    -                                options JSON, ceremony row (user, setup token)
//	FinishRegistration   PublicKeyCredential.toJSON()     consume ceremony, verify, store passkey + use setup token (1 tx)
//	BeginLogin           -                                options JSON, ceremony row (auth request)
//	FinishLogin          PublicKeyCredential.toJSON()     consume ceremony, userHandle → user, verify, clone check, write back
//
// Every ceremony is single use (DELETE … RETURNING) and expires; sign-in
// ceremonies are bound to their OIDC auth request. Every error is an
// *Error whose Kind is one of the Err* values; Reason gives a short code
// for the audit log. A refusal changes nothing in the database except the
// consumed ceremony and, for a sign count that did not increase, the
// credential's clone warning.
package passkeys
