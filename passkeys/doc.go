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
//	VerifyLogin          PublicKeyCredential.toJSON()     consume ceremony, userHandle → user, verify, clone check
//	SaveLogin            -                                write back sign count, flags, last use (caller's transaction)
//	FinishLogin          PublicKeyCredential.toJSON()     VerifyLogin + SaveLogin
//	NewLoginChallenge    -                                challenge stored with a new auth request (oidc)
//	LoginOptions         -                                options JSON for it, carried by the sign-in page
//	VerifyBoundLogin     PublicKeyCredential.toJSON()     as VerifyLogin; the caller uses the challenge up (bound.go)
//
// Every ceremony is single use (DELETE … RETURNING) and expires; sign-in
// ceremonies are bound to their OIDC auth request. The sign-in page's
// first attempt needs no ceremony: it answers the challenge stored with
// the auth request, which completing the request or a refusal uses up
// (bound.go). Every error is an
// *Error whose Kind is one of the Err* values; Reason gives a short code
// for the audit log. A refusal changes nothing in the database except the
// consumed ceremony and, for a sign count that did not increase, the
// credential's clone warning.
//
// Passkey policy (policy.go, attestation.go, mds.go, evaluate.go): a user's
// effective policy is the strictest of the global Config.Policy and the
// policies of their groups (any < device-bound < attested; allow-lists
// intersect, deny-lists add up). FinishRegistration refuses what the
// policy does not accept with ErrPolicy and a message that says why and
// what would work. Attestations are checked against FIDO MDS3 metadata
// imported offline (ImportMDS). Stored passkeys are re-evaluated by
// ReconcilePolicy and at every sign-in: one that stopped satisfying the
// policy is flagged and refused once Config.PolicyGrace has passed.
// Evaluate/EvaluateAll describe a passkey for display (PolicyStatus);
// LoginResult.ACR is "phr" or "phrh".
package passkeys
