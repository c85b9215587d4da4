package web

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/latchkey-idp/latchkey/internal/i18n"
)

// ContentSecurityPolicy forbids inline script and style everywhere and
// framing (clickjacking on the sign-in page).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// FormPostPolicy is the CSP of the op endpoints: zitadel's response_mode=
// form_post page submits itself from an inline onload handler, which is
// allowed by its exact hash and nothing else (CSP Level 3 'unsafe-hashes').
const FormPostPolicy = "default-src 'none'; script-src 'unsafe-hashes' 'sha256-FRuPMoCm2v334i+3oP3jLBT4RnmwV1pycDQaxVXK4MY='; " +
	"base-uri 'none'; frame-ancestors 'none'"

// OpEndpointCSP replaces the default CSP on the op routes.
func OpEndpointCSP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Content-Security-Policy", FormPostPolicy)
		return next(c)
	}
}

// FixedHeaders are the security headers of every response, built once
// per server; SecurityHeaders copies them in. hsts adds
// Strict-Transport-Security (https issuers).
func FixedHeaders(hsts bool) http.Header {
	h := http.Header{
		"Content-Security-Policy":    One(ContentSecurityPolicy),
		"X-Content-Type-Options":     One("nosniff"),
		"X-Frame-Options":            One("DENY"),
		"Referrer-Policy":            One("no-referrer"),
		"Cross-Origin-Opener-Policy": One("same-origin"),
		"Permissions-Policy":         One("publickey-credentials-get=(self), publickey-credentials-create=(self)"),
	}
	if hsts {
		h["Strict-Transport-Security"] = One("max-age=63072000; includeSubDomains")
	}
	return h
}

// One is a header value that responses can share: its capacity is its
// length, so an Add on a response appends to a copy, never to the shared
// array, and Set or Del replace it. Never assign to an element of a header
// value (h[k][0] = …): that would change every response.
func One(v string) []string { return []string{v}[:1:1] }

// SecurityHeaders sets FixedHeaders(hsts) on every response.
func SecurityHeaders(hsts bool) echo.MiddlewareFunc {
	fixed := FixedHeaders(hsts)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			for k, v := range fixed {
				h[k] = v
			}
			return next(c)
		}
	}
}

// NoStore marks responses that carry tokens, codes, challenges or setup
// links as uncacheable (RFC 6749 §5.1, RFC 9700 §4.x).
func NoStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Response().Header().Set("Pragma", "no-cache")
		return next(c)
	}
}

// RequestLogger logs every request as one structured line. It logs the
// route pattern, never the raw path or query: those carry setup tokens,
// codes and state. Requests to the quiet routes (health and readiness
// probes, which orchestrators send every few seconds) are logged only when
// they fail (status 400 or above).
func RequestLogger(log *slog.Logger, quiet ...string) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogMethod: true, LogRoutePath: true,
		LogRequestID: true, LogRemoteIP: true, LogError: true, LogResponseSize: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			if v.Status < 400 && slices.Contains(quiet, v.RoutePath) {
				return nil
			}
			LogRequest(c.Request().Context(), log, v)
			return nil
		},
	})
}

// LogRequest writes the request log line of RequestLogger (and of the
// document fast path in idp).
func LogRequest(ctx context.Context, log *slog.Logger, v middleware.RequestLoggerValues) {
	level := slog.LevelInfo
	if v.Status >= 500 {
		level = slog.LevelError
	}
	log.LogAttrs(ctx, level, "request",
		slog.String("request_id", v.RequestID),
		slog.String("method", v.Method),
		slog.String("route", v.RoutePath),
		slog.Int("status", v.Status),
		slog.Duration("latency", v.Latency),
		slog.String("client_ip", v.RemoteIP),
		slog.Int64("bytes", v.ResponseSize),
	)
}

// CSRF is the one CSRF protection of every state-changing UI route:
// Fetch Metadata first (Sec-Fetch-Site: same-origin passes), else a
// double-submit token from the X-CSRF-Token header (fetch) or the _csrf
// form field (classic forms), compared with the HttpOnly cookie named
// cookie ("__Host-" prefixed when secure). The console uses its own cookie
// name: cookies do not isolate ports, and the public and internal
// listeners often share a host name.
func CSRF(cookie string, secure bool) echo.MiddlewareFunc {
	if secure {
		cookie = "__Host-" + cookie
	}
	return middleware.CSRFWithConfig(middleware.CSRFConfig{ //nolint:gosec // G101: TokenLookup and CookieName name where the CSRF token travels (header, form field, cookie), they hold no credential
		TokenLookup:    "header:X-CSRF-Token,form:_csrf",
		CookieName:     cookie,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   secure,
		CookieSameSite: http.SameSiteStrictMode,
		CookieMaxAge:   int((12 * time.Hour).Seconds()),
		ErrorHandler: func(err error, _ echo.Context) error {
			return &Error{Status: http.StatusForbidden, Err: err,
				Message: i18n.Key("err.csrf")}
		},
	})
}
