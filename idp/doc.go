// Package idp is Latchkey's HTTP application: the public and internal echo
// servers, browser sessions, the passkey sign-in and setup-link pages, the
// end-session glue, security headers, request logging and audit writing.
// It is the only package that imports echo, and nothing imports it.
//
// Sign-in flow (public listener):
//
//	/authorize (op)            → stores the auth request, redirects to the client's LoginURL
//	GET  /login?authRequestID  → live session and no prompt=login/max_age: complete at once;
//	                             prompt=none without one: login_required to the client;
//	                             otherwise the sign-in page (button + conditional UI)
//	POST /login/passkey/begin  → discoverable WebAuthn options, challenge stored server-side
//	POST /login/passkey/finish → verify, start or refresh the browser session, complete the
//	                             auth request, answer with the op callback URL
//	/authorize/callback (op)   → issues the code to the client
//
// Handlers parse, call models/passkeys/oidc, and render; they hold no
// protocol logic of their own.
package idp
