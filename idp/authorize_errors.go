package idp

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/oidc"
)

// authorizeTargetGuard answers an authorization request that cannot go
// back to its client with our error page (400) instead of letting op write
// a bare error: an unknown or missing client_id, a missing redirect_uri, or
// one the client has not registered. RFC 6749 §4.1.2.1: the authorization
// server "SHOULD inform the resource owner of the error and MUST NOT
// automatically redirect the user-agent to the invalid redirection URI".
// Every other error op redirects to the (now known good) redirect_uri.
// A storage failure goes to the one error handler (503).
func (s *Server) authorizeTargetGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// With PAR (RFC 9126) or a request object (RFC 9101) the
		// redirect_uri is in the pushed request or the object, which the
		// OIDC layer checks with the same rules after it has them.
		if c.FormValue("request_uri") != "" || c.FormValue("request") != "" {
			return next(c)
		}
		problem, err := s.op.CheckAuthorizeTarget(c.Request().Context(), c.FormValue("client_id"), c.FormValue("redirect_uri"), c.FormValue("response_type"))
		if err != nil {
			return err
		}
		if e := authorizeProblemPage(problem); e != nil {
			return e
		}
		return next(c)
	}
}

var authorizeHint = i18n.Key("err.authorize_hint")

// authorizeProblemPage is the page of a problem, nil for AuthorizeOK.
func authorizeProblemPage(p oidc.AuthorizeProblem) *web.Error {
	e := &web.Error{Status: http.StatusBadRequest, Hint: authorizeHint}
	switch p {
	case oidc.AuthorizeOK:
		return nil
	case oidc.AuthorizeNoClientID:
		e.Title, e.Message = i18n.Key("err.authorize_invalid_title"), i18n.Key("err.authorize_no_client")
	case oidc.AuthorizeUnknownClient:
		e.Title, e.Message = i18n.Key("err.authorize_unknown_client_title"), i18n.Key("err.authorize_unknown_client")
	case oidc.AuthorizeNoRedirectURI:
		e.Title, e.Message = i18n.Key("err.authorize_invalid_title"), i18n.Key("err.authorize_no_redirect")
	default: // oidc.AuthorizeBadRedirectURI
		e.Title, e.Message = i18n.Key("err.authorize_bad_redirect_title"), i18n.Key("err.authorize_bad_redirect")
	}
	return e
}
