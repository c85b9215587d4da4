package idp

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"

	"github.com/latchkey-idp/latchkey/models"
)

// Rate-limit groups. Each client IP gets its own counter per group.
const (
	RateLimitLogin    = "login"     // /login/passkey/* (sign-in ceremonies)
	RateLimitSetup    = "setup"     // /setup/* (one-time setup links)
	RateLimitToken    = "token"     // /oauth/token, /revoke, /oauth/par
	RateLimitAdminAPI = "admin_api" // the admin REST API on the internal listener
	RateLimitRecovery = "recovery"  // POST /recover (recovery.go)
	RateLimitSCIM     = "scim"      // /scim/v2 (a directory pushing changes)
	RateLimitSignup   = "signup"    // POST /signup (signup.go)
)

// RateLimit allows Requests per Window.
type RateLimit struct {
	Requests int
	Window   time.Duration
}

func (l RateLimit) String() string { return fmt.Sprintf("%d/%s", l.Requests, l.Window) }

// RateLimits configures the limits. The zero value means the defaults, on.
type RateLimits struct {
	Disabled bool
	// Limits overrides the default of a group.
	Limits map[string]RateLimit
}

// DefaultRateLimits are generous for people and tight for scripts: a
// sign-in is two ceremony requests, a setup three, and a relying party
// refreshing tokens for many users behind one IP needs the token budget.
var DefaultRateLimits = map[string]RateLimit{
	RateLimitLogin:    {Requests: 60, Window: time.Minute},
	RateLimitSetup:    {Requests: 30, Window: time.Minute},
	RateLimitToken:    {Requests: 600, Window: time.Minute},
	RateLimitAdminAPI: {Requests: 600, Window: time.Minute},
	// Each request may send mail: a person asks a few times an hour.
	RateLimitRecovery: {Requests: 10, Window: time.Hour},
	RateLimitSCIM:     {Requests: 1200, Window: time.Minute},
	// Each sign-up may send mail and create an account.
	RateLimitSignup: {Requests: 10, Window: time.Hour},
}

func (r *RateLimits) defaults() {
	if r.Limits == nil {
		r.Limits = map[string]RateLimit{}
	}
	for g, l := range DefaultRateLimits {
		if _, ok := r.Limits[g]; !ok {
			r.Limits[g] = l
		}
	}
}

func (r *RateLimits) validate() []string {
	var probs []string
	groups := make([]string, 0, len(r.Limits))
	for g := range r.Limits {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		l := r.Limits[g]
		if _, known := DefaultRateLimits[g]; !known {
			probs = append(probs, fmt.Sprintf("unknown rate-limit group %q (known: login, setup, token, admin_api, scim, recovery, signup)", g))
		}
		if l.Requests <= 0 || l.Window < time.Second {
			probs = append(probs, fmt.Sprintf("rate limit %s=%s must allow at least 1 request per window of at least 1s", g, l))
		}
	}
	return probs
}

// ParseRateLimit parses "group=N/WINDOW", for example "login=60/1m".
func ParseRateLimit(spec string) (string, RateLimit, error) {
	group, rest, ok := strings.Cut(strings.TrimSpace(spec), "=")
	n, w, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return "", RateLimit{}, fmt.Errorf("rate limit %q: want GROUP=N/WINDOW such as login=60/1m", spec)
	}
	reqs, err := strconv.Atoi(n)
	if err != nil {
		return "", RateLimit{}, fmt.Errorf("rate limit %q: %q is not a number", spec, n)
	}
	win, err := time.ParseDuration(w)
	if err != nil {
		return "", RateLimit{}, fmt.Errorf("rate limit %q: %q is not a duration", spec, w)
	}
	return group, RateLimit{Requests: reqs, Window: win}, nil
}

// rateLimit limits a route group per client IP (c.RealIP: the socket peer,
// or X-Forwarded-For from a trusted proxy). Counters live in the database,
// so every instance shares them. Over the limit the answer is 429 with
// Retry-After (RFC 6585 §4). If the counter cannot be written the request
// passes (the failure is logged): an outage of the limiter must not lock
// everybody out, and the database is then failing the request anyway.
//
// Attach it to a route or group: e.g. api.Use(s.rateLimit(RateLimitAdminAPI)).
func (s *Server) rateLimit(group string) echo.MiddlewareFunc {
	limit, on := s.cfg.RateLimits.Limits[group]
	if s.cfg.RateLimits.Disabled || !on || limit.Requests <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	json := group == RateLimitToken || group == RateLimitAdminAPI
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if json {
				web.MarkJSONErrors(c)
			}
			count, reset, err := s.db.HitRateLimit(c.Request().Context(), group+"|"+c.RealIP(), limit.Window)
			if err != nil {
				s.cfg.Logger.Error("rate limit", "group", group, "err", err)
				return next(c)
			}
			if count <= int64(limit.Requests) {
				return next(c)
			}
			wait := int(math.Ceil(reset.Sub(s.cfg.Now()).Seconds()))
			if wait < 1 {
				wait = 1
			}
			c.Response().Header().Set("Retry-After", strconv.Itoa(wait))
			if count == int64(limit.Requests)+1 {
				// Once per window and client: a flood must not flood the audit log.
				s.cfg.Logger.Warn("rate limit exceeded", "group", group, "client_ip", c.RealIP(), "limit", limit.String())
				s.auditor.Audit(c, &models.AuditEvent{Type: models.EventRateLimited, Success: false,
					Detail: models.JSONMap{"group": group, "limit": limit.String()}})
			}
			return &web.Error{Status: http.StatusTooManyRequests,
				Message: fmt.Sprintf("Too many requests. Wait %d seconds and try again.", wait)}
		}
	}
}

// opRateLimit is the limiter of an op endpoint path (a no-op for the
// endpoints that are not limited: discovery, JWKS, authorize, userinfo and
// introspection, which resource servers may call on every API request and
// which writes nothing).
func (s *Server) opRateLimit(path string) echo.MiddlewareFunc {
	switch path {
	case "/oauth/token", "/revoke", "/oauth/par":
		return s.rateLimit(RateLimitToken)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
}
