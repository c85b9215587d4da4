package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/outbound"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

type adminClientPage struct {
	adminBase
	Clients      []models.Client
	Client       *models.Client
	New          bool
	Secret       string
	Discovery    string
	Snippet      string
	Algs         []string
	Scopes       []scopeHelp
	RedirectText string
	LogoutText   string
	pager
}

// scopeHelp explains a scope on the application form.
type scopeHelp struct{ Name, Help string }

// scopeHelps lists and explains every scope an application may be
// limited to (the scopes_supported of discovery).
var scopeHelps = []scopeHelp{
	{"openid", "Required for OpenID Connect: the app gets an ID token naming the user (sub)."},
	{"profile", "The user's name, username and chosen language (name, preferred_username, updated_at, locale)."},
	{"email", "The user's email address and whether it is verified (email, email_verified)."},
	{"groups", "The names of the user's groups (groups claim), for apps that grant roles by group."},
	{"offline_access", "A refresh token, so the app stays signed in after the access token expires."},
}

// newClientScopes are ticked on the form for a new application: the set
// most applications ask for.
var newClientScopes = models.StringList{"openid", "profile", "email", "groups", "offline_access"}

// HandleClientsList serves GET /admin/clients: a page of applications by
// name, paged by cursor (?after=, ?before=: a client ID).
func (s *Handlers) HandleClientsList(c echo.Context) error {
	page := consolePage(c)
	cs, more, err := s.db.ListClientsPage(c.Request().Context(), page)
	if errors.Is(err, models.ErrInvalid) {
		return web.NewError(http.StatusBadRequest, userMessage(err), err)
	} else if err != nil {
		return err
	}
	p := &adminClientPage{adminBase: s.adminBase(c, "clients"), Clients: cs}
	if len(cs) > 0 {
		p.pager = links("/admin/clients", nil, page, more, cs[0].ID, cs[len(cs)-1].ID)
	}
	return s.Render(c, http.StatusOK, "admin_clients", p)
}

func (s *Handlers) clientPage(c echo.Context, cl *models.Client, isNew bool, scripts ...string) (*adminClientPage, error) {
	return &adminClientPage{adminBase: s.adminBase(c, "clients", scripts...), Client: cl, New: isNew, Algs: oidc.SigningAlgorithms(),
		Scopes: scopeHelps, Discovery: s.cfg.Issuer + "/.well-known/openid-configuration",
		RedirectText: strings.Join(cl.RedirectURIs, "\n"), LogoutText: strings.Join(cl.PostLogoutRedirectURIs, "\n"),
		Snippet: clientSnippet(s.cfg.Issuer, cl)}, nil
}

// clientSnippet is a configuration block an application can paste.
func clientSnippet(issuer string, cl *models.Client) string {
	redirect := ""
	if len(cl.RedirectURIs) > 0 {
		redirect = cl.RedirectURIs[0]
	}
	secret := "<the secret shown when it was created or rotated>"
	if cl.Public {
		secret = "(none: public client, use PKCE)" //nolint:gosec // G101: placeholder text of the configuration snippet for a public client, which has no secret
	}
	scopes := "openid profile email"
	if len(cl.AllowedScopes) > 0 {
		scopes = strings.Join(cl.AllowedScopes, " ")
	}
	return fmt.Sprintf("OIDC_ISSUER=%s\nOIDC_CLIENT_ID=%s\nOIDC_CLIENT_SECRET=%s\nOIDC_REDIRECT_URI=%s\nOIDC_SCOPES=%s\n",
		issuer, cl.ID, secret, redirect, scopes)
}

// HandleClientNew serves GET /admin/clients/new.
func (s *Handlers) HandleClientNew(c echo.Context) error {
	p, err := s.clientPage(c, &models.Client{IDTokenAlg: "RS256", AllowedScopes: newClientScopes}, true)
	if err != nil {
		return err
	}
	return s.Render(c, http.StatusOK, "admin_client", p)
}

// clientFromForm reads the application form into cl; it returns a message
// for the form when a value is unusable.
func (s *Handlers) clientFromForm(c echo.Context, cl *models.Client, isNew bool) string {
	form, _ := c.FormParams()
	cl.Name = strings.TrimSpace(c.FormValue("name"))
	if isNew {
		cl.Public = c.FormValue("type") == "public"
	}
	cl.RedirectURIs = splitList(c.FormValue("redirect_uris"))
	cl.PostLogoutRedirectURIs = splitList(c.FormValue("post_logout_redirect_uris"))
	cl.AllowedScopes = nil
	for _, sc := range form["scopes"] {
		if slices.ContainsFunc(scopeHelps, func(h scopeHelp) bool { return h.Name == sc }) {
			cl.AllowedScopes = append(cl.AllowedScopes, sc)
		}
	}
	cl.AllowedGroups = models.StringList(formGroups(c)) // group_picker.go
	cl.IDTokenAlg = c.FormValue("id_token_alg")
	cl.AccessTokenFormat = c.FormValue("access_token_format")
	cl.SkipConsent = c.FormValue("skip_consent") == "on"                               // issue 5: first-party
	cl.RequirePAR = c.FormValue("require_par") == "on"                                 // RFC 9126 §6
	cl.RequirePKCE = !cl.Public && c.FormValue("require_pkce") == "on"                 // public clients always need PKCE
	cl.RequireDPoP = c.FormValue("require_dpop") == "on"                               // RFC 9449
	cl.Profile = c.FormValue("profile")                                                // checked by CreateClient/SaveClient
	cl.BackchannelLogoutURI = strings.TrimSpace(c.FormValue("backchannel_logout_uri")) // issue 5
	cl.LaunchURL = strings.TrimSpace(c.FormValue("launch_url"))                        // issue 22: the launcher
	cl.LogoURL = strings.TrimSpace(c.FormValue("logo_url"))
	if cl.AccessTokenFormat == "" {
		cl.AccessTokenFormat = models.AccessTokenJWT
	}
	if v := c.FormValue("id_token_claims"); v != "" || isNew {
		cl.IDTokenClaims = v // checked by validateClient
	}
	var bad string
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"access_token_ttl", &cl.AccessTokenTTL}, {"id_token_ttl", &cl.IDTokenTTL}, {"refresh_token_ttl", &cl.RefreshTokenTTL}} {
		v := strings.TrimSpace(c.FormValue(f.name))
		n := atoiDefault(v, -1)
		if v == "" {
			n = 0
		}
		if n < 0 || n > 90*24*3600 {
			bad = "Token lifetimes are whole seconds between 0 (server default) and 7776000 (90 days)."
		}
		*f.dst = int64(max(n, 0))
	}
	if bad != "" {
		return bad
	}
	return validateClient(cl, s.cfg.Outbound, "The back-channel logout URI")
}

// validateClient checks the form: redirect URIs follow
// models.CheckRedirectURI, the rule the CLI and the API share, and the
// back-channel logout URI the outbound policy (internal/outbound) that
// delivery applies again when it dials. bcField names that field in the
// message ("The back-channel logout URI" on the form, the JSON name in the API).
func validateClient(cl *models.Client, pol outbound.Policy, bcField string) string {
	if cl.Name == "" {
		return "The application needs a name."
	}
	if len(cl.RedirectURIs) == 0 {
		return "Add at least one redirect URI."
	}
	for _, list := range [][]string{cl.RedirectURIs, cl.PostLogoutRedirectURIs} {
		for _, r := range list {
			if err := models.CheckRedirectURI(r); err != nil {
				return fmt.Sprintf("%q is not a usable redirect URI: it must be absolute, without a fragment, and not a javascript:, data: or file: URI.", r)
			}
		}
	}
	if u := cl.BackchannelLogoutURI; u != "" {
		// OIDC Back-Channel Logout 1.0 §2.2: an absolute URL without a
		// fragment; our policy adds https and a public (or allowed) host.
		if err := pol.CheckURL(u); err != nil {
			return fmt.Sprintf("%s %q is refused: %s.", bcField, u, strings.TrimPrefix(err.Error(), outbound.ErrRefused.Error()+": "))
		}
	}
	// The launcher (issue 22): a link the browser follows, and a logo
	// the server fetches (web.FetchLogo applies the outbound policy).
	if err := models.CheckLaunchURL(cl.LaunchURL); err != nil {
		return userMessage(err)
	}
	if err := models.CheckLogoURL(cl.LogoURL); err != nil {
		return userMessage(err)
	}
	if !slices.Contains(oidc.SigningAlgorithms(), cl.IDTokenAlg) {
		return "Choose an ID token algorithm."
	}
	if cl.AccessTokenFormat != models.AccessTokenJWT && cl.AccessTokenFormat != models.AccessTokenOpaque {
		return "Choose an access token format."
	}
	if err := cl.CheckProfile(); err != nil { // FAPI 2.0 needs keys and ES256 ID tokens
		return userMessage(err)
	}
	v, err := models.CheckIDTokenClaims(cl.IDTokenClaims)
	if err != nil {
		return fmt.Sprintf("ID token claims must be %q or %q.", models.IDTokenClaimsScoped, models.IDTokenClaimsMinimal)
	}
	cl.IDTokenClaims = v
	return ""
}

// HandleClientCreate serves POST /admin/clients.
func (s *Handlers) HandleClientCreate(c echo.Context) error {
	cl := &models.Client{}
	if msg := s.clientFromForm(c, cl, true); msg != "" {
		return s.clientFormError(c, cl, true, msg)
	}
	if msg, err := s.checkAddedGroups(c.Request().Context(), nil, cl.AllowedGroups); err != nil || msg != "" {
		return s.clientFormErrorOr(c, cl, true, msg, err)
	}
	logo, err := web.ClientLogoChange(c.Request().Context(), s.cfg.Outbound, cl, "")
	if err != nil {
		return s.clientFormError(c, cl, true, userMessage(err))
	}
	secret, err := s.createClient(c.Request().Context(), cl, logo)
	if err != nil {
		if msg := userMessage(err); msg != "" {
			return s.clientFormError(c, cl, true, msg)
		}
		return err
	}
	s.adminAudit(c, models.EventClientCreated, models.AuditEvent{ClientID: cl.ID, Detail: models.JSONMap{"name": cl.Name, "public": cl.Public}})
	return s.showClientSecret(c, cl, secret, http.StatusCreated)
}

func (s *Handlers) clientFormError(c echo.Context, cl *models.Client, isNew bool, msg string) error {
	p, err := s.clientPage(c, cl, isNew)
	if err != nil {
		return err
	}
	p.Error = msg
	return s.Render(c, http.StatusBadRequest, "admin_client", p)
}

func (s *Handlers) showClientSecret(c echo.Context, cl *models.Client, secret string, status int) error {
	p, err := s.clientPage(c, cl, false, "admin.js")
	if err != nil {
		return err
	}
	p.Secret = secret
	p.Snippet = strings.Replace(p.Snippet, "<the secret shown when it was created or rotated>", secret, 1)
	return s.Render(c, status, "admin_client_secret", p)
}

func (s *Handlers) adminClient(c echo.Context) (*models.Client, error) {
	cl, err := s.db.ClientByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return nil, web.NotFound("application", err)
	}
	if cl.Builtin {
		return nil, &web.Error{Status: http.StatusForbidden, Message: "This built-in application is managed by Latchkey and cannot be changed."}
	}
	return cl, nil
}

// HandleClientShow serves GET /admin/clients/:id.
func (s *Handlers) HandleClientShow(c echo.Context) error {
	cl, err := s.adminClient(c)
	if err != nil {
		return err
	}
	p, err := s.clientPage(c, cl, false, "admin.js")
	if err != nil {
		return err
	}
	return s.Render(c, http.StatusOK, "admin_client", p)
}

// HandleClientUpdate serves POST /admin/clients/:id.
func (s *Handlers) HandleClientUpdate(c echo.Context) error {
	cl, err := s.adminClient(c)
	if err != nil {
		return err
	}
	prev, prevLogo := cl.AllowedGroups, cl.LogoURL
	if msg := s.clientFromForm(c, cl, false); msg != "" {
		return s.clientFormError(c, cl, false, msg)
	}
	if msg, err := s.checkAddedGroups(c.Request().Context(), prev, cl.AllowedGroups); err != nil || msg != "" {
		return s.clientFormErrorOr(c, cl, false, msg, err)
	}
	logo, err := web.ClientLogoChange(c.Request().Context(), s.cfg.Outbound, cl, prevLogo)
	if err != nil {
		return s.clientFormError(c, cl, false, userMessage(err))
	}
	if err := s.saveClient(c.Request().Context(), cl, logo); err != nil {
		return err
	}
	s.adminAudit(c, models.EventClientUpdated, models.AuditEvent{ClientID: cl.ID, Detail: models.JSONMap{"name": cl.Name}})
	return c.Redirect(http.StatusSeeOther, "/admin/clients/"+cl.ID+"?done=client-saved")
}

// HandleClientSecretRotate serves POST /admin/clients/:id/secret.
func (s *Handlers) HandleClientSecretRotate(c echo.Context) error {
	cl, err := s.adminClient(c)
	if err != nil {
		return err
	}
	if cl.Public {
		return s.clientFormError(c, cl, false, "A public application has no secret to rotate.")
	}
	secret, err := s.db.RotateClientSecret(c.Request().Context(), cl.ID)
	if err != nil {
		return err
	}
	s.adminAudit(c, models.EventClientSecretRotate, models.AuditEvent{ClientID: cl.ID})
	return s.showClientSecret(c, cl, secret, http.StatusOK)
}

// HandleClientDelete serves POST /admin/clients/:id/delete.
func (s *Handlers) HandleClientDelete(c echo.Context) error {
	cl, err := s.adminClient(c)
	if err != nil {
		return err
	}
	if err := s.db.DeleteClient(c.Request().Context(), cl.ID); err != nil {
		return err
	}
	s.adminAudit(c, models.EventClientDeleted, models.AuditEvent{ClientID: cl.ID, Detail: models.JSONMap{"name": cl.Name}})
	return c.Redirect(http.StatusSeeOther, "/admin/clients?done=client-deleted")
}

// createClient inserts cl and stores its logo in one transaction.
func (s *Handlers) createClient(ctx context.Context, cl *models.Client, logo web.LogoChange) (string, error) {
	var secret string
	err := s.db.InTx(ctx, func(tx *models.DB) error {
		var err error
		if secret, err = tx.CreateClient(ctx, cl); err != nil {
			return err
		}
		return logo.Apply(ctx, tx, cl)
	})
	return secret, err
}

// saveClient saves cl and its logo in one transaction.
func (s *Handlers) saveClient(ctx context.Context, cl *models.Client, logo web.LogoChange) error {
	return s.db.InTx(ctx, func(tx *models.DB) error {
		if err := tx.SaveClient(ctx, cl); err != nil {
			return err
		}
		return logo.Apply(ctx, tx, cl)
	})
}
