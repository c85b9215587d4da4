package idp

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// adminRoutes is the route table of issue 3, called from routes(): the
// admin console and admin API on the internal listener (in), the account
// page on the public listener (pub). Middleware is attached per route (no
// empty-prefix groups, which would capture unmatched paths).
func (s *Server) adminRoutes(pub, in *echo.Echo) {
	// Internal listener: static assets for the console pages.
	in.GET("/static/*", s.handleStatic)
	in.GET("/favicon.ico", s.handleFavicon)
	in.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/admin") })

	// Console sign-in through the built-in OIDC client. The callback is a
	// cross-site GET from the issuer; state, nonce and PKCE protect it.
	in.GET("/admin/login", s.handleAdminLogin, noStore)
	in.GET("/admin/callback", s.handleAdminCallback, noStore)
	in.GET("/admin/signed-out", s.handleAdminSignedOut)

	csrf := s.formCSRF("latchkey_admin_csrf", s.adminSecure())
	view := []echo.MiddlewareFunc{csrf, noStore, s.requireAdmin}
	change := view // POST: CSRF checked first, then the session
	in.POST("/admin/logout", s.handleAdminLogout, csrf, noStore)
	in.GET("/admin", s.handleAdminOverview, view...)
	in.GET("/admin/users", s.handleAdminUsers, view...)
	in.GET("/admin/users/new", s.handleAdminUserNew, view...)
	in.POST("/admin/users", s.handleAdminUserCreate, change...)
	in.GET("/admin/users/:id", s.handleAdminUser, view...)
	in.POST("/admin/users/:id", s.handleAdminUserUpdate, change...)
	in.POST("/admin/users/:id/:action", s.handleAdminUserAction, change...)
	in.POST("/admin/users/:id/passkeys/:cid/revoke", s.handleAdminPasskeyRevoke, change...)
	in.POST("/admin/users/:id/sessions/:sid/end", s.handleAdminSessionEnd, change...)
	in.POST("/admin/users/:id/apps/:cid/revoke", s.handleAdminAppRevoke, change...)
	in.GET("/admin/groups", s.handleAdminGroups, view...)
	in.POST("/admin/groups", s.handleAdminGroupCreate, change...)
	in.GET("/admin/groups/:id", s.handleAdminGroup, view...)
	in.POST("/admin/groups/:id", s.handleAdminGroupUpdate, change...)
	in.POST("/admin/groups/:id/delete", s.handleAdminGroupDelete, change...)
	in.POST("/admin/groups/:id/members", s.handleAdminGroupMemberAdd, change...)
	in.POST("/admin/groups/:id/members/:uid/remove", s.handleAdminGroupMemberRemove, change...)
	in.GET("/admin/clients", s.handleAdminClients, view...)
	in.GET("/admin/clients/new", s.handleAdminClientNew, view...)
	in.POST("/admin/clients", s.handleAdminClientCreate, change...)
	in.GET("/admin/clients/:id", s.handleAdminClient, view...)
	in.POST("/admin/clients/:id", s.handleAdminClientUpdate, change...)
	in.POST("/admin/clients/:id/secret", s.handleAdminClientSecret, change...)
	in.POST("/admin/clients/:id/delete", s.handleAdminClientDelete, change...)
	in.GET("/admin/keys", s.handleAdminKeys, view...)
	in.POST("/admin/keys/rotate", s.handleAdminKeysRotate, change...)
	in.GET("/admin/audit", s.handleAdminAudit, view...)
	in.GET("/admin/audit/export", s.handleAdminAuditExport, view...)
	in.GET("/admin/tokens", s.handleAdminTokens, view...)
	in.POST("/admin/tokens", s.handleAdminTokenCreate, change...)
	in.POST("/admin/tokens/:id/revoke", s.handleAdminTokenRevoke, change...)

	// Admin REST API (docs/openapi.yaml): bearer API tokens, JSON errors,
	// no cookies, so no CSRF.
	api := []echo.MiddlewareFunc{jsonErrors, s.rateLimit(RateLimitAdminAPI), noStore, s.requireAPIToken}
	in.GET("/api/v1/users", s.handleAPIUsers, api...)
	in.POST("/api/v1/users", s.handleAPIUserCreate, api...)
	in.GET("/api/v1/users/:id", s.handleAPIUser, api...)
	in.PATCH("/api/v1/users/:id", s.handleAPIUserUpdate, api...)
	in.DELETE("/api/v1/users/:id", s.handleAPIUserDelete, api...)
	in.POST("/api/v1/users/:id/disable", s.handleAPIUserDisable, api...)
	in.POST("/api/v1/users/:id/enable", s.handleAPIUserDisable, api...)
	in.POST("/api/v1/users/:id/setup-link", s.handleAPIUserSetupLink, api...)
	in.GET("/api/v1/groups", s.handleAPIGroups, api...)
	in.POST("/api/v1/groups", s.handleAPIGroupCreate, api...)
	in.GET("/api/v1/groups/:id", s.handleAPIGroup, api...)
	in.PATCH("/api/v1/groups/:id", s.handleAPIGroupUpdate, api...)
	in.DELETE("/api/v1/groups/:id", s.handleAPIGroupDelete, api...)
	in.PUT("/api/v1/groups/:id/members/:uid", s.handleAPIGroupMember, api...)
	in.DELETE("/api/v1/groups/:id/members/:uid", s.handleAPIGroupMember, api...)
	in.GET("/api/v1/clients", s.handleAPIClients, api...)
	in.POST("/api/v1/clients", s.handleAPIClientCreate, api...)
	in.GET("/api/v1/clients/:id", s.handleAPIClient, api...)
	in.PATCH("/api/v1/clients/:id", s.handleAPIClientUpdate, api...)
	in.DELETE("/api/v1/clients/:id", s.handleAPIClientDelete, api...)
	in.POST("/api/v1/clients/:id/secret", s.handleAPIClientSecret, api...)
	in.GET("/api/v1/keys", s.handleAPIKeys, api...)
	in.POST("/api/v1/keys/rotate", s.handleAPIKeysRotate, api...)
	in.GET("/api/v1/audit", s.handleAPIAudit, api...)

	// Public listener: the user's own account page.
	acsrf := s.formCSRF("latchkey_csrf", s.cfg.SecureCookies())
	loginLimit := s.rateLimit(RateLimitLogin)
	pub.GET("/account", s.handleAccount, acsrf, noStore)
	pub.POST("/account/login/begin", s.handleSessionLoginBegin, jsonErrors, loginLimit, acsrf, noStore)
	pub.POST("/account/login/finish", s.handleAccountLoginFinish, jsonErrors, loginLimit, acsrf, noStore)
	pub.POST("/account/passkeys/begin", s.requireAccount(s.handleAccountPasskeyBegin), jsonErrors, acsrf, noStore)
	pub.POST("/account/passkeys/finish", s.requireAccount(s.handleAccountPasskeyFinish), jsonErrors, acsrf, noStore)
	pub.POST("/account/passkeys/:id/rename", s.requireAccount(s.handleAccountPasskeyRename), acsrf, noStore)
	pub.POST("/account/passkeys/:id/delete", s.requireAccount(s.handleAccountPasskeyDelete), acsrf, noStore)
	pub.POST("/account/sessions/:id/end", s.requireAccount(s.handleAccountSessionEnd), acsrf, noStore)
	pub.POST("/account/apps/:id/revoke", s.requireAccount(s.handleAccountAppRevoke), acsrf, noStore)
}
