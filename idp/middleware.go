package idp

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/latchkey-idp/latchkey/models"
)

// contentSecurityPolicy forbids inline script and style everywhere and
// framing (clickjacking on the sign-in page).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// formPostPolicy is the CSP of the op endpoints: zitadel's response_mode=
// form_post page submits itself from an inline onload handler, which is
// allowed by its exact hash and nothing else (CSP Level 3 'unsafe-hashes').
const formPostPolicy = "default-src 'none'; script-src 'unsafe-hashes' 'sha256-FRuPMoCm2v334i+3oP3jLBT4RnmwV1pycDQaxVXK4MY='; " +
	"base-uri 'none'; frame-ancestors 'none'"

// opEndpointCSP replaces the default CSP on the op routes.
func opEndpointCSP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Content-Security-Policy", formPostPolicy)
		return next(c)
	}
}

// fixedHeaders are the security headers of every response, built once
// per server; securityHeaders copies them in.
func (s *Server) fixedHeaders() http.Header {
	h := http.Header{
		"Content-Security-Policy":    one(contentSecurityPolicy),
		"X-Content-Type-Options":     one("nosniff"),
		"X-Frame-Options":            one("DENY"),
		"Referrer-Policy":            one("no-referrer"),
		"Cross-Origin-Opener-Policy": one("same-origin"),
		"Permissions-Policy":         one("publickey-credentials-get=(self), publickey-credentials-create=(self)"),
	}
	if s.cfg.SecureCookies() {
		h["Strict-Transport-Security"] = one("max-age=63072000; includeSubDomains")
	}
	return h
}

// one is a header value that responses can share: its capacity is its
// length, so an Add on a response appends to a copy, never to the shared
// array, and Set or Del replace it. Never assign to an element of a header
// value (h[k][0] = …): that would change every response.
func one(v string) []string { return []string{v}[:1:1] }

func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	fixed := s.fixedHeaders()
	return func(c echo.Context) error {
		h := c.Response().Header()
		for k, v := range fixed {
			h[k] = v
		}
		return next(c)
	}
}

// requestMemo lets the layers serving one sign-in or token request (op,
// oidc, idp) share the client row they read (models.WithRequestMemo):
// one load per request instead of two or three. Nothing outlives the
// request, so client changes still apply to the next one.
func requestMemo(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(models.WithRequestMemo(r.Context())))
		return next(c)
	}
}

// noStore marks responses that carry tokens, codes, challenges or setup
// links as uncacheable (RFC 6749 §5.1, RFC 9700 §4.x).
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Response().Header().Set("Pragma", "no-cache")
		return next(c)
	}
}

// requestLogger logs every request as one structured line. It logs the
// route pattern, never the raw path or query: those carry setup tokens,
// codes and state.
func (s *Server) requestLogger() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogMethod: true, LogRoutePath: true,
		LogRequestID: true, LogRemoteIP: true, LogError: true, LogResponseSize: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			s.logRequest(c.Request().Context(), v)
			return nil
		},
	})
}

// logRequest writes the request log line of requestLogger (and of the
// document fast path, documents.go).
func (s *Server) logRequest(ctx context.Context, v middleware.RequestLoggerValues) {
	level := slog.LevelInfo
	if v.Status >= 500 {
		level = slog.LevelError
	}
	s.cfg.Logger.LogAttrs(ctx, level, "request",
		slog.String("request_id", v.RequestID),
		slog.String("method", v.Method),
		slog.String("route", v.RoutePath),
		slog.Int("status", v.Status),
		slog.Duration("latency", v.Latency),
		slog.String("client_ip", v.RemoteIP),
		slog.Int64("bytes", v.ResponseSize),
	)
}

// csrf protects the UI routes: Fetch Metadata first, then a double-submit
// token in the X-CSRF-Token header for browsers without it.
func (s *Server) csrf() echo.MiddlewareFunc {
	name := "latchkey_csrf"
	if s.cfg.SecureCookies() {
		name = "__Host-latchkey_csrf"
	}
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "header:X-CSRF-Token",
		CookieName:     name,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.cfg.SecureCookies(),
		CookieSameSite: http.SameSiteStrictMode,
		CookieMaxAge:   int((12 * time.Hour).Seconds()),
		ErrorHandler: func(err error, c echo.Context) error {
			return &appError{Status: http.StatusForbidden, Err: err,
				Message: "This request was refused: its CSRF protection is missing or invalid. Reload the page and try again."}
		},
	})
}
