package oidc

import (
	"net/http"
	"strings"
)

// Middleware on op's router (op.WithHTTPMiddleware). Everything else op
// serves goes through op's Server methods (server.go).

// maxTokenBody bounds the request bodies of op's endpoints; real ones are
// < 4 KiB. op then refuses a longer body as invalid_request.
const maxTokenBody = 64 << 10

// tokenEndpointHygiene bounds request bodies and marks the responses of the
// endpoints that carry tokens or codes as not cacheable (RFC 6749 §5.1):
// op's Response has headers, but op's error answers do not, and they must
// not be cached either.
func (p *Provider) tokenEndpointHygiene(next http.Handler) http.Handler {
	e := p.op.Endpoints()
	noStore := map[string]bool{}
	for _, ep := range []interface{ Relative() string }{e.Token, e.Userinfo, e.Introspection, e.Revocation, e.DeviceAuthorization} {
		noStore[ep.Relative()] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
		}
		if noStore[r.URL.Path] {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
		}
		next.ServeHTTP(w, r)
	})
}

// userinfoChallenge is the one adapter left around op's output: a 401
// from /userinfo carries WWW-Authenticate (RFC 6750 §3.1). The hook op
// lacks: an error returned by a Server method (op.StatusError) has a
// status but no headers, so UserInfo (server.go), which chooses the 401,
// cannot add the challenge itself; op.Response.Header exists only for
// successful answers. The adapter only adds that header when op writes a
// 401; it changes neither status nor body. No zitadel/oidc issue asks for
// headers on StatusError (searched 4 December 2026, v3.52.0); when op
// gains them, UserInfo returns the challenge and this adapter goes.
func (p *Provider) userinfoChallenge(next http.Handler) http.Handler {
	path := p.op.Endpoints().Userinfo.Relative()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, dpop := w.(*challengeWriter); r.URL.Path == path && !dpop { // dpopUserinfo chose the DPoP scheme
			w = &challengeWriter{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

// challengeWriter adds the challenge of scheme ("" is Bearer; DPoP for a
// request dpopUserinfo let through, RFC 9449 §7.1) to a 401.
type challengeWriter struct {
	http.ResponseWriter
	scheme string
}

func (c *challengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		if c.scheme == "DPoP" {
			c.Header().Set("WWW-Authenticate", `DPoP algs="`+strings.Join(DPoPAlgorithms(), " ")+`", error="invalid_token"`)
		} else {
			c.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
