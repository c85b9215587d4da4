// Package web holds what every audience of the HTTP application shares:
// page rendering (the embedded templates, one base layout, static assets,
// the time and passkey rows the console and the account page both show),
// the one error renderer (ErrorHandler: an HTML page, or JSON on routes
// marked JSONErrors), strict JSON request bodies, the browser session
// cookie, the one CSRF middleware, security headers, no-store, request
// logging, and audit writing.
//
// It may import echo, models, passkeys, templates and static; it never
// imports idp or an audience package (signin, account, admin).
package web
