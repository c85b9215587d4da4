package idp

import (
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

func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	hsts := s.cfg.SecureCookies()
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "publickey-credentials-get=(self), publickey-credentials-create=(self)")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
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
	log := s.cfg.Logger
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogMethod: true, LogRoutePath: true,
		LogRequestID: true, LogRemoteIP: true, LogError: true, LogResponseSize: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("request_id", v.RequestID),
				slog.String("method", v.Method),
				slog.String("route", v.RoutePath),
				slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency),
				slog.String("client_ip", v.RemoteIP),
				slog.Int64("bytes", v.ResponseSize),
			)
			return nil
		},
	})
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
