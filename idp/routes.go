package idp

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
)

// listener names the echo server a route is served on.
type listener int

const (
	public   listener = iota // issuer: OIDC, sign-in, setup, account
	internal                 // admin console, /api/v1, health, metrics
)

func (l listener) String() string {
	if l == internal {
		return "internal"
	}
	return "public"
}

// anyMethod registers a route for every method (echo's Any).
const anyMethod = "*"

// route is one row of the route table: where, what, and the middleware
// in the order it runs (after the server-wide middleware of newEcho).
type route struct {
	on      listener
	method  string
	path    string
	handler echo.HandlerFunc
	mw      []echo.MiddlewareFunc
}

// mw is a route's middleware list.
func mw(m ...echo.MiddlewareFunc) []echo.MiddlewareFunc { return m }

// routeTable is the one route table of both listeners; mountRoutes
// registers exactly these routes (routes_test.go checks it). Middleware is
// attached per route: an echo Group with an empty prefix would also
// capture every unmatched path.
func (s *Server) routeTable() []route {
	op := echo.WrapHandler(s.op.Handler())
	csrf, adminCSRF := s.csrf, s.adminCSRF
	noStore, jsonErrors, opCSP := web.NoStore, web.JSONErrors, web.OpEndpointCSP
	loginLimit, setupLimit := s.rateLimit(RateLimitLogin), s.rateLimit(RateLimitSetup)
	tokenLimit, apiLimit := s.rateLimit(RateLimitToken), s.rateLimit(RateLimitAdminAPI)
	sg, acc, adm := s.signin, s.account, s.admin
	const get, post, put, patch, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete

	t := []route{
		// --- Public listener ---
		// OpenID Connect endpoints served by zitadel op. No CSRF here: they
		// are called cross-site by design and protected by the protocol.
		{public, anyMethod, "/.well-known/openid-configuration", op, mw(s.opRateLimit("/.well-known/openid-configuration"), noStore, opCSP)},
		{public, anyMethod, "/keys", op, mw(s.opRateLimit("/keys"), noStore, opCSP)},
		// RFC 8414 authorization server metadata: the discovery document.
		{public, anyMethod, "/.well-known/oauth-authorization-server", op, mw(noStore, opCSP)},
		// Pushed authorization requests (RFC 9126), authenticated like the
		// token endpoint and limited with it.
		{public, anyMethod, "/oauth/par", op, mw(s.opRateLimit("/oauth/par"), noStore, opCSP)},
		// /authorize sends the browser to /login, and /login after the
		// sign-in to /authorize/callback, which sends it to the client.
		{public, anyMethod, "/authorize", op, mw(s.opRateLimit("/authorize"), noStore, opCSP, s.authorizeStorageGuard, s.authorizeTargetGuard)},
		{public, anyMethod, "/authorize/callback", op, mw(s.opRateLimit("/authorize/callback"), noStore, opCSP)},
		{public, anyMethod, "/oauth/token", op, mw(s.opRateLimit("/oauth/token"), noStore, opCSP)},
		{public, anyMethod, "/oauth/introspect", op, mw(s.opRateLimit("/oauth/introspect"), noStore, opCSP)},
		{public, anyMethod, "/userinfo", op, mw(s.opRateLimit("/userinfo"), noStore, opCSP)},
		{public, anyMethod, "/revoke", op, mw(s.opRateLimit("/revoke"), noStore, opCSP)},
		{public, anyMethod, "/end_session", sg.HandleSessionEnd, mw(noStore)},
		{public, post, "/end_session/confirm", sg.HandleLogoutConfirm, mw(csrf, noStore)},
		{public, get, "/consent", sg.HandleConsentShow, mw(csrf, noStore)},
		// A denial may answer with op's form_post page.
		{public, post, "/consent", sg.HandleConsentDecide, mw(csrf, noStore, opCSP)},
		// Device authorization grant (RFC 8628): op's endpoint, then the
		// user side. User-code look-ups share the sign-in rate limit.
		{public, anyMethod, "/device_authorization", op, mw(tokenLimit, noStore, opCSP)},
		{public, get, "/device", sg.HandleDeviceShow, mw(loginLimit, csrf, noStore)},
		{public, post, "/device", sg.HandleDeviceDecide, mw(loginLimit, csrf, noStore)},
		{public, post, "/device/login/begin", sg.HandleSessionLoginBegin, mw(jsonErrors, loginLimit, csrf, noStore)},
		{public, post, "/device/login/finish", sg.HandleDeviceLoginFinish, mw(jsonErrors, loginLimit, csrf, noStore)},

		{public, get, "/", sg.HandleHomeShow, nil},
		{public, get, "/branding.css", s.pages.Brand.HandleCSS, nil},
		{public, get, "/branding/logo", s.pages.Brand.HandleLogo, nil},
		{public, get, "/branding/favicon", s.pages.Brand.HandleFavicon, nil},
		{public, get, "/logged-out", sg.HandleLoggedOutShow, nil},
		{public, get, "/static/*", web.HandleStatic, nil},
		{public, get, "/favicon.ico", s.pages.Brand.HandleFaviconICO, nil},
		{public, get, "/.well-known/webauthn", sg.HandleRelatedOriginsGet, nil},

		// Sign-in and setup pages: CSRF and no caching (they carry
		// challenges and setup tokens).
		{public, get, "/login", sg.HandleLoginShow, mw(csrf, noStore)},
		{public, post, "/login/passkey/begin", sg.HandlePasskeyLoginBegin, mw(jsonErrors, loginLimit, csrf, noStore)},
		{public, post, "/login/passkey/finish", sg.HandlePasskeyLoginFinish, mw(jsonErrors, loginLimit, csrf, noStore)},
		{public, get, "/setup/:token", acc.HandleSetupShow, mw(setupLimit, csrf, noStore)},
		{public, post, "/setup/:token/begin", acc.HandleSetupBegin, mw(jsonErrors, setupLimit, csrf, noStore)},
		{public, post, "/setup/:token/finish", acc.HandleSetupFinish, mw(jsonErrors, setupLimit, csrf, noStore)},
		{public, get, "/recover", acc.HandleRecoverShow, mw(csrf, noStore)},
		// The language switcher of every public page (web/lang.go).
		{public, post, "/language", s.pages.Languages.HandleSet, mw(csrf, noStore)},
		{public, post, "/recover", acc.HandleRecoverSend, mw(s.rateLimit(RateLimitRecovery), csrf, noStore)},
		{public, post, "/recover/code", acc.HandleRecoverCodeUse, mw(s.rateLimit(RateLimitRecovery), csrf, noStore)},
		// Sign-up (signup.go): the form, and that of a sign-up link.
		{public, get, "/signup", acc.HandleSignupShow, mw(csrf, noStore)},
		{public, post, "/signup", acc.HandleSignupSend, mw(s.rateLimit(RateLimitSignup), csrf, noStore)},
		{public, get, "/signup/:token", acc.HandleSignupLinkShow, mw(setupLimit, csrf, noStore)},
		{public, post, "/signup/:token", acc.HandleSignupSend, mw(s.rateLimit(RateLimitSignup), csrf, noStore)},

		// The user's own account page.
		{public, get, "/account", acc.HandleAccountShow, mw(csrf, noStore)},
		{public, post, "/account/login/begin", sg.HandleSessionLoginBegin, mw(jsonErrors, loginLimit, csrf, noStore)},
		{public, post, "/account/login/finish", acc.HandleAccountLoginFinish, mw(jsonErrors, loginLimit, csrf, noStore)},
		{public, post, "/account/passkeys/begin", acc.RequireAccount(acc.HandleAccountPasskeyBegin), mw(jsonErrors, csrf, noStore)},
		{public, post, "/account/passkeys/finish", acc.RequireAccount(acc.HandleAccountPasskeyFinish), mw(jsonErrors, csrf, noStore)},
		{public, post, "/account/passkeys/:id/rename", acc.RequireAccount(acc.HandleAccountPasskeyRename), mw(csrf, noStore)},
		{public, post, "/account/passkeys/:id/delete", acc.RequireAccount(acc.HandleAccountPasskeyDelete), mw(csrf, noStore)},
		{public, post, "/account/sessions/:id/end", acc.RequireAccount(acc.HandleAccountSessionEnd), mw(csrf, noStore)},
		{public, post, "/account/apps/:id/revoke", acc.RequireAccount(acc.HandleAccountAppRevoke), mw(csrf, noStore)},
		// The user's own profile (issue 22): name, email change (verified
		// by a one-time link: GET asks, POST changes), launcher logos.
		{public, post, "/account/profile/name", acc.RequireAccount(acc.HandleAccountNameSave), mw(csrf, noStore)},
		{public, post, "/account/profile/email", acc.RequireAccount(acc.HandleAccountEmailChange), mw(s.rateLimit(RateLimitRecovery), csrf, noStore)},
		{public, get, "/email/verify/:token", acc.HandleEmailVerifyShow, mw(setupLimit, csrf, noStore)},
		{public, post, "/email/verify/:token", acc.HandleEmailVerifyDo, mw(setupLimit, csrf, noStore)},
		{public, get, "/apps/:id/logo", acc.HandleAppLogo, nil},
		{public, post, "/account/recovery-codes", acc.RequireAccount(acc.HandleRecoveryCodesCreate), mw(csrf, noStore)},

		// --- Internal listener ---
		{internal, get, "/healthz", s.handleHealthGet, nil},
		{internal, get, "/readyz", s.handleReadinessGet, nil},
		{internal, get, "/metrics", s.handleMetricsGet, nil},
		// Static assets for the console pages.
		{internal, get, "/static/*", web.HandleStatic, nil},
		{internal, get, "/favicon.ico", s.pages.Brand.HandleFaviconICO, nil},
		{internal, get, "/branding.css", s.pages.Brand.HandleCSS, nil},
		{internal, get, "/branding/logo", s.pages.Brand.HandleLogo, nil},
		{internal, get, "/branding/favicon", s.pages.Brand.HandleFavicon, nil},
		{internal, get, "/apps/:id/logo", acc.HandleAppLogo, nil}, // the console's application form shows it
		{internal, get, "/", adm.HandleConsoleRedirect, nil},
	}

	// Console sign-in through the built-in OIDC client. The callback is a
	// cross-site GET from the issuer; state, nonce and PKCE protect it.
	// Console pages: CSRF checked first (POST), then the session.
	view := mw(adminCSRF, noStore, adm.RequireAdmin)
	t = append(t, []route{
		{internal, get, "/admin/login", adm.HandleSignInStart, mw(noStore)},
		{internal, get, "/admin/callback", adm.HandleSignInCallback, mw(noStore)},
		{internal, get, "/admin/signed-out", adm.HandleSignedOutShow, nil},
		{internal, post, "/admin/logout", adm.HandleSignOut, mw(adminCSRF, noStore)},
		{internal, get, "/admin", adm.HandleOverviewShow, view},
		{internal, get, "/admin/users", adm.HandleUsersList, view},
		{internal, get, "/admin/users/new", adm.HandleUserNew, view},
		{internal, post, "/admin/users", adm.HandleUserCreate, view},
		{internal, get, "/admin/users/:id", adm.HandleUserShow, view},
		{internal, post, "/admin/users/:id", adm.HandleUserUpdate, view},
		{internal, post, "/admin/users/:id/:action", adm.HandleUserAction, view},
		{internal, post, "/admin/users/:id/passkeys/:cid/revoke", adm.HandlePasskeyRevoke, view},
		{internal, post, "/admin/users/:id/passkeys/:cid/unblock", adm.HandlePasskeyUnblock, view},
		{internal, post, "/admin/users/:id/sessions/:sid/end", adm.HandleSessionEnd, view},
		{internal, post, "/admin/users/:id/apps/:cid/revoke", adm.HandleAppRevoke, view},
		{internal, get, "/admin/groups", adm.HandleGroupsList, view},
		{internal, post, "/admin/groups", adm.HandleGroupCreate, view},
		{internal, get, "/admin/groups/options", adm.HandleGroupOptions, view},
		{internal, get, "/admin/groups/:id", adm.HandleGroupShow, view},
		{internal, post, "/admin/groups/:id", adm.HandleGroupUpdate, view},
		{internal, post, "/admin/groups/:id/delete", adm.HandleGroupDelete, view},
		{internal, post, "/admin/groups/:id/recovery", adm.HandleGroupRecovery, view},
		{internal, post, "/admin/groups/:id/members", adm.HandleGroupMemberAdd, view},
		{internal, post, "/admin/groups/:id/members/:uid/remove", adm.HandleGroupMemberRemove, view},
		{internal, get, "/admin/clients", adm.HandleClientsList, view},
		{internal, get, "/admin/clients/new", adm.HandleClientNew, view},
		{internal, post, "/admin/clients", adm.HandleClientCreate, view},
		{internal, get, "/admin/clients/:id", adm.HandleClientShow, view},
		{internal, post, "/admin/clients/:id", adm.HandleClientUpdate, view},
		{internal, post, "/admin/clients/:id/secret", adm.HandleClientSecretRotate, view},
		{internal, post, "/admin/clients/:id/delete", adm.HandleClientDelete, view},
		{internal, get, "/admin/keys", adm.HandleKeysList, view},
		{internal, post, "/admin/keys/rotate", adm.HandleKeysRotate, view},
		{internal, get, "/admin/audit", adm.HandleAuditList, view},
		{internal, get, "/admin/audit/export", adm.HandleAuditExport, view},
		{internal, get, "/admin/tokens", adm.HandleTokensList, view},
		{internal, get, "/admin/branding", adm.HandleBrandingShow, view},
		{internal, post, "/admin/branding", adm.HandleBrandingUpdate, view},
		{internal, post, "/admin/tokens", adm.HandleTokenCreate, view},
		{internal, post, "/admin/tokens/:id/revoke", adm.HandleTokenRevoke, view},
		{internal, get, "/admin/mail", adm.HandleMailList, view},
		{internal, get, "/admin/scim-tokens", adm.HandleSCIMTokensList, view},
		{internal, post, "/admin/scim-tokens", adm.HandleSCIMTokenCreate, view},
		{internal, post, "/admin/scim-tokens/:id/revoke", adm.HandleSCIMTokenRevoke, view},
		{internal, get, "/admin/signup-links", adm.HandleSignupLinksList, view},
		{internal, post, "/admin/signup-links", adm.HandleSignupLinkCreate, view},
		{internal, post, "/admin/signup-links/:id/revoke", adm.HandleSignupLinkRevoke, view},
		{internal, post, "/admin/signup-policy", adm.HandleSignupPolicySet, view},
		{internal, get, "/admin/registration-tokens", adm.HandleRegistrationTokensList, view},
		{internal, post, "/admin/registration-tokens", adm.HandleRegistrationTokenCreate, view},
		{internal, post, "/admin/registration-tokens/:id/revoke", adm.HandleRegistrationTokenRevoke, view},
	}...)

	// Admin REST API (docs/openapi.yaml): bearer API tokens, JSON errors,
	// no cookies, so no CSRF.
	api := mw(jsonErrors, apiLimit, noStore, adm.RequireAPIToken)
	t = append(t, []route{
		{internal, get, "/api/v1/users", adm.HandleAPIUsersList, api},
		{internal, post, "/api/v1/users", adm.HandleAPIUserCreate, api},
		{internal, get, "/api/v1/users/:id", adm.HandleAPIUserGet, api},
		{internal, patch, "/api/v1/users/:id", adm.HandleAPIUserUpdate, api},
		{internal, del, "/api/v1/users/:id", adm.HandleAPIUserDelete, api},
		{internal, post, "/api/v1/users/:id/disable", adm.HandleAPIUserDisable, api},
		{internal, post, "/api/v1/users/:id/enable", adm.HandleAPIUserDisable, api},
		{internal, post, "/api/v1/users/:id/setup-link", adm.HandleAPISetupLinkCreate, api},
		{internal, post, "/api/v1/users/:id/invitations", adm.HandleAPIInvitationCreate, api},
		{internal, get, "/api/v1/mail/undeliverable", adm.HandleAPIUndeliverableMailList, api},
		{internal, get, "/api/v1/groups", adm.HandleAPIGroupsList, api},
		{internal, post, "/api/v1/groups", adm.HandleAPIGroupCreate, api},
		{internal, get, "/api/v1/groups/:id", adm.HandleAPIGroupGet, api},
		{internal, patch, "/api/v1/groups/:id", adm.HandleAPIGroupUpdate, api},
		{internal, del, "/api/v1/groups/:id", adm.HandleAPIGroupDelete, api},
		{internal, put, "/api/v1/groups/:id/members/:uid", adm.HandleAPIGroupMemberSet, api},
		{internal, del, "/api/v1/groups/:id/members/:uid", adm.HandleAPIGroupMemberSet, api},
		{internal, get, "/api/v1/clients", adm.HandleAPIClientsList, api},
		{internal, post, "/api/v1/clients", adm.HandleAPIClientCreate, api},
		{internal, get, "/api/v1/clients/:id", adm.HandleAPIClientGet, api},
		{internal, patch, "/api/v1/clients/:id", adm.HandleAPIClientUpdate, api},
		{internal, del, "/api/v1/clients/:id", adm.HandleAPIClientDelete, api},
		{internal, post, "/api/v1/clients/:id/secret", adm.HandleAPIClientSecretRotate, api},
		{internal, get, "/api/v1/keys", adm.HandleAPIKeysList, api},
		{internal, post, "/api/v1/keys/rotate", adm.HandleAPIKeysRotate, api},
		{internal, get, "/api/v1/audit", adm.HandleAPIAuditList, api},
		{internal, get, "/api/v1/scim-tokens", adm.HandleAPISCIMTokensList, api},
		{internal, post, "/api/v1/scim-tokens", adm.HandleAPISCIMTokenCreate, api},
		{internal, del, "/api/v1/scim-tokens/:id", adm.HandleAPISCIMTokenRevoke, api},
		{internal, get, "/api/v1/signup-links", adm.HandleAPISignupLinksList, api},
		{internal, post, "/api/v1/signup-links", adm.HandleAPISignupLinkCreate, api},
		{internal, del, "/api/v1/signup-links/:id", adm.HandleAPISignupLinkRevoke, api},
		{internal, get, "/api/v1/registration-tokens", adm.HandleAPIRegistrationTokensList, api},
		{internal, post, "/api/v1/registration-tokens", adm.HandleAPIRegistrationTokenCreate, api},
		{internal, del, "/api/v1/registration-tokens/:id", adm.HandleAPIRegistrationTokenRevoke, api},
	}...)

	// SCIM provisioning (RFC 7644, idp/scim): bearer SCIM tokens, SCIM
	// errors (server.go marks /scim/ before routing), no cookies, so no CSRF.
	if !s.cfg.DisableSCIM {
		scimLimit := s.rateLimit(RateLimitSCIM)
		t = append(t, route{public, anyMethod, "/scim/v2", s.scim.HandleSCIM, mw(scimLimit, noStore)},
			route{public, anyMethod, "/scim/v2/*", s.scim.HandleSCIM, mw(scimLimit, noStore)})
	}

	// Dynamic client registration (RFC 7591) and the client configuration
	// endpoint (RFC 7592), when serve --registration turns them on; limited
	// with the token endpoint.
	if s.op.RegistrationEnabled() {
		t = append(t, route{public, anyMethod, "/oauth/register", op, mw(tokenLimit, noStore, opCSP)},
			route{public, anyMethod, "/oauth/register/:id", op, mw(tokenLimit, noStore, opCSP)})
	}

	if s.cfg.Pprof {
		t = append(t, pprofRoutes()...) // metrics.go
	}
	return t
}

// authorizeStorageGuard answers /authorize with the error page (503 while
// the database is unreachable, web.ErrorHandler) when the request's client
// cannot be loaded for a storage failure: a browser gets a page in our
// style, not op's answer that names the client. An unknown client passes
// on to op.
func (s *Server) authorizeStorageGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.op.ClientStorageError(c.Request().Context(), c.FormValue("client_id")); err != nil {
			return err
		}
		return next(c)
	}
}

// mountRoutes registers the route table on the two echo servers.
func (s *Server) mountRoutes() {
	for _, r := range s.routeTable() {
		e := s.public
		if r.on == internal {
			e = s.internal
		}
		if r.method == anyMethod {
			e.Any(r.path, r.handler, r.mw...)
		} else {
			e.Add(r.method, r.path, r.handler, r.mw...)
		}
	}
}
