// Package web holds what every audience of the HTTP application shares:
// page rendering (the embedded templates, one base layout, static assets),
// the one error renderer (HTTPErrorHandler), the browser session cookie,
// the one CSRF middleware, security headers, no-store and request logging,
// and audit writing.
//
// It may import echo, models, templates and static; it never imports idp
// or an audience package (signin, account, admin).
package web
