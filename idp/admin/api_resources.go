package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

type apiGroup struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Members int64  `json:"members"`
}

// HandleAPIGroupsList serves GET /api/v1/groups: a page of groups by name
// (?limit=, ?after= a group name, the "next" of the previous page).
func (s *Handlers) HandleAPIGroupsList(c echo.Context) error {
	page, err := apiPage(c)
	if err != nil {
		return err
	}
	gs, more, err := s.db.ListGroupsPage(c.Request().Context(), page)
	if err != nil {
		return apiError(err, "groups")
	}
	out := make([]apiGroup, len(gs))
	for i, g := range gs {
		out[i] = apiGroup{ID: g.ID, Name: g.Name, Members: g.Members}
	}
	return c.JSON(http.StatusOK, apiList{"groups": out, "next": apiNext(more, func() string { return gs[len(gs)-1].Name })})
}

// HandleAPIGroupCreate serves POST /api/v1/groups.
func (s *Handlers) HandleAPIGroupCreate(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := web.DecodeJSON(c, &in); err != nil {
		return err
	}
	g, err := s.db.CreateGroup(c.Request().Context(), in.Name)
	if err != nil {
		return apiError(err, "group")
	}
	s.adminAudit(c, models.EventGroupCreated, models.AuditEvent{Detail: models.JSONMap{"group": g.ID, "name": g.Name, "via": "api"}})
	return c.JSON(http.StatusCreated, apiGroup{ID: g.ID, Name: g.Name})
}

// HandleAPIGroupGet serves GET /api/v1/groups/:id with a page of its
// members by username (?limit=, ?after= a username; "members_next").
func (s *Handlers) HandleAPIGroupGet(c echo.Context) error {
	ctx := c.Request().Context()
	page, err := apiPage(c)
	if err != nil {
		return err
	}
	g, err := s.db.GroupByID(ctx, c.Param("id"))
	if err != nil {
		return apiError(err, "group")
	}
	ms, more, err := s.db.GroupMembersPage(ctx, g.ID, page)
	if err != nil {
		return apiError(err, "members")
	}
	members := make([]map[string]string, len(ms))
	for i, u := range ms {
		members[i] = map[string]string{"id": u.ID, "username": u.Username}
	}
	out := map[string]any{"id": g.ID, "name": g.Name, "recovery_disabled": g.RecoveryDisabled, "members": members}
	if more {
		out["members_next"] = ms[len(ms)-1].Username
	}
	return c.JSON(http.StatusOK, out)
}

// HandleAPIGroupUpdate serves PATCH /api/v1/groups/:id.
func (s *Handlers) HandleAPIGroupUpdate(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
		// RecoveryDisabled, when given, turns recovery by email off (true)
		// or on for the group's members.
		RecoveryDisabled *bool `json:"recovery_disabled"`
	}
	if err := web.DecodeJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	detail := models.JSONMap{"group": c.Param("id"), "via": "api"}
	if in.Name != "" || in.RecoveryDisabled == nil {
		if err := s.db.RenameGroup(ctx, c.Param("id"), in.Name); err != nil {
			return apiError(err, "group")
		}
		detail["name"] = in.Name
	}
	if in.RecoveryDisabled != nil {
		if err := s.db.SetGroupRecovery(ctx, c.Param("id"), *in.RecoveryDisabled); err != nil {
			return apiError(err, "group")
		}
		detail["recovery_disabled"] = *in.RecoveryDisabled
	}
	s.adminAudit(c, models.EventGroupUpdated, models.AuditEvent{Detail: detail})
	return s.HandleAPIGroupGet(c)
}

// HandleAPIGroupDelete serves DELETE /api/v1/groups/:id.
func (s *Handlers) HandleAPIGroupDelete(c echo.Context) error {
	if err := s.db.DeleteGroup(c.Request().Context(), c.Param("id")); err != nil {
		return apiError(err, "group")
	}
	s.adminAudit(c, models.EventGroupDeleted, models.AuditEvent{Detail: models.JSONMap{"group": c.Param("id"), "via": "api"}})
	return c.NoContent(http.StatusNoContent)
}

// HandleAPIGroupMemberSet serves PUT /api/v1/groups/:id/members/:uid, DELETE /api/v1/groups/:id/members/:uid.
func (s *Handlers) HandleAPIGroupMemberSet(c echo.Context) error {
	ctx := c.Request().Context()
	gid, uid := c.Param("id"), c.Param("uid")
	var err error
	detail := models.JSONMap{"group": gid, "via": "api"}
	if c.Request().Method == http.MethodPut {
		err, detail["added"] = s.db.AddGroupMember(ctx, gid, uid), uid
	} else {
		err, detail["removed"] = s.db.RemoveGroupMember(ctx, gid, uid), uid
	}
	if err != nil {
		return apiError(err, "group or user")
	}
	s.adminAudit(c, models.EventGroupUpdated, models.AuditEvent{UserID: uid, Detail: detail})
	return c.NoContent(http.StatusNoContent)
}

// APIClient is an application in the admin API (docs/openapi.yaml).
type APIClient struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	AllowedScopes          []string `json:"allowed_scopes"`
	AllowedGroups          []string `json:"allowed_groups"`
	IDTokenAlg             string   `json:"id_token_alg"`
	AccessTokenFormat      string   `json:"access_token_format"`
	AccessTokenTTL         int64    `json:"access_token_ttl"`
	IDTokenTTL             int64    `json:"id_token_ttl"`
	RefreshTokenTTL        int64    `json:"refresh_token_ttl"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
	IDTokenClaims          string   `json:"id_token_claims"`
	Builtin                bool     `json:"builtin"`
	// RFC 9126 §6 client metadata: authorization requests only through PAR.
	RequirePAR bool `json:"require_pushed_authorization_requests"`
	// RFC 7636: a confidential client that must send a code challenge;
	// always true for public clients.
	RequirePKCE bool `json:"require_pkce"`
	// RFC 9449 §5.2 client metadata: token requests need a DPoP proof.
	RequireDPoP bool `json:"dpop_bound_access_tokens"`
	// The launcher (issue 22): the account page links to launch_url; the
	// logo at logo_url is fetched once when it is set, and served by us.
	LaunchURL string `json:"launch_url"`
	LogoURL   string `json:"logo_url"`
	// LogoPath is where the stored logo is served ("" none); read only.
	LogoPath string `json:"logo_path"`
	// Profile is "" or "fapi2": the FAPI 2.0 Security Profile, which
	// needs a confidential client with keys (private_key_jwt) and ES256
	// ID tokens.
	Profile string `json:"profile"`
	// SelfRegistered: the client registered itself (RFC 7591);
	// RegisteredBy is "open" or the initial access token's ID. Read only.
	SelfRegistered bool   `json:"self_registered"`
	RegisteredBy   string `json:"registered_by,omitempty"`
	ClientSecret   string `json:"client_secret,omitempty"`
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func toAPIClient(cl *models.Client) APIClient {
	logo := ""
	if cl.LogoType != "" {
		logo = "/apps/" + cl.ID + "/logo"
	}
	return APIClient{LogoPath: logo, ID: cl.ID, Name: cl.Name, Public: cl.Public, RedirectURIs: nonNil(cl.RedirectURIs),
		PostLogoutRedirectURIs: nonNil(cl.PostLogoutRedirectURIs), AllowedScopes: nonNil(cl.AllowedScopes),
		AllowedGroups: nonNil(cl.AllowedGroups), IDTokenAlg: cl.IDTokenAlg, AccessTokenFormat: cl.AccessTokenFormat,
		AccessTokenTTL: cl.AccessTokenTTL, IDTokenTTL: cl.IDTokenTTL, RefreshTokenTTL: cl.RefreshTokenTTL, BackchannelLogoutURI: cl.BackchannelLogoutURI,
		IDTokenClaims: cl.IDTokenClaims, Builtin: cl.Builtin,
		RequirePAR: cl.RequirePAR, RequirePKCE: cl.NeedsPKCE(), RequireDPoP: cl.RequireDPoP, LaunchURL: cl.LaunchURL, LogoURL: cl.LogoURL,
		Profile: cl.Profile, SelfRegistered: cl.SelfRegistered(), RegisteredBy: cl.RegisteredBy}
}

func (in *APIClient) apply(cl *models.Client) {
	cl.Name, cl.RedirectURIs, cl.PostLogoutRedirectURIs = in.Name, in.RedirectURIs, in.PostLogoutRedirectURIs
	cl.AllowedScopes, cl.AllowedGroups = in.AllowedScopes, in.AllowedGroups
	cl.IDTokenAlg, cl.AccessTokenFormat = in.IDTokenAlg, in.AccessTokenFormat
	cl.AccessTokenTTL, cl.IDTokenTTL, cl.RefreshTokenTTL = in.AccessTokenTTL, in.IDTokenTTL, in.RefreshTokenTTL
	cl.BackchannelLogoutURI = strings.TrimSpace(in.BackchannelLogoutURI)
	cl.IDTokenClaims = in.IDTokenClaims // checked by validateClient
	cl.RequirePAR = in.RequirePAR
	cl.RequirePKCE = in.RequirePKCE && !cl.Public // public clients need it anyway
	cl.RequireDPoP = in.RequireDPoP
	cl.LaunchURL, cl.LogoURL = strings.TrimSpace(in.LaunchURL), strings.TrimSpace(in.LogoURL)
	cl.Profile = in.Profile // checked by SaveClient (models.CheckProfile)
	if cl.IDTokenAlg == "" {
		cl.IDTokenAlg = "RS256"
	}
	if cl.AccessTokenFormat == "" {
		cl.AccessTokenFormat = models.AccessTokenJWT
	}
}

// HandleAPIClientsList serves GET /api/v1/clients: a page of clients by
// name, then ID (?limit=, ?after= a client ID, the "next" of the previous
// page; an unknown one is a 400).
func (s *Handlers) HandleAPIClientsList(c echo.Context) error {
	page, err := apiPage(c)
	if err != nil {
		return err
	}
	cs, more, err := s.db.ListClientsPage(c.Request().Context(), page)
	if errors.Is(err, models.ErrInvalid) {
		return web.NewError(http.StatusBadRequest, userMessage(err), err)
	} else if err != nil {
		return err
	}
	out := make([]APIClient, len(cs))
	for i := range cs {
		out[i] = toAPIClient(&cs[i])
	}
	return c.JSON(http.StatusOK, apiList{"clients": out, "next": apiNext(more, func() string { return cs[len(cs)-1].ID })})
}

// HandleAPIClientCreate serves POST /api/v1/clients.
func (s *Handlers) HandleAPIClientCreate(c echo.Context) error {
	var in APIClient
	if err := web.DecodeJSON(c, &in); err != nil {
		return err
	}
	cl := &models.Client{Public: in.Public}
	in.apply(cl)
	if msg := validateClient(cl, s.cfg.Outbound, "backchannel_logout_uri"); msg != "" {
		return web.NewError(http.StatusUnprocessableEntity, msg, nil)
	}
	logo, err := web.ClientLogoChange(c.Request().Context(), s.cfg.Outbound, cl, "")
	if err != nil {
		return web.NewError(http.StatusUnprocessableEntity, userMessage(err), nil)
	}
	secret, err := s.createClient(c.Request().Context(), cl, logo)
	if err != nil {
		return apiError(err, "client")
	}
	s.adminAudit(c, models.EventClientCreated, models.AuditEvent{ClientID: cl.ID, Detail: models.JSONMap{"name": cl.Name, "via": "api"}})
	out := toAPIClient(cl)
	out.ClientSecret = secret
	return c.JSON(http.StatusCreated, out)
}

func (s *Handlers) apiClientByID(c echo.Context) (*models.Client, error) {
	cl, err := s.db.ClientByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return nil, apiError(err, "client")
	}
	return cl, nil
}

// HandleAPIClientGet serves GET /api/v1/clients/:id.
func (s *Handlers) HandleAPIClientGet(c echo.Context) error {
	cl, err := s.apiClientByID(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIClient(cl))
}

// HandleAPIClientUpdate serves PATCH /api/v1/clients/:id.
func (s *Handlers) HandleAPIClientUpdate(c echo.Context) error {
	cl, err := s.apiClientByID(c)
	if err != nil {
		return err
	}
	if cl.Builtin {
		return web.NewError(http.StatusForbidden, "built-in clients are managed by Latchkey", nil)
	}
	in := toAPIClient(cl)
	if err := web.DecodeJSON(c, &in); err != nil {
		return err
	}
	prevLogo := cl.LogoURL
	in.apply(cl)
	if msg := validateClient(cl, s.cfg.Outbound, "backchannel_logout_uri"); msg != "" {
		return web.NewError(http.StatusUnprocessableEntity, msg, nil)
	}
	logo, err := web.ClientLogoChange(c.Request().Context(), s.cfg.Outbound, cl, prevLogo)
	if err != nil {
		return web.NewError(http.StatusUnprocessableEntity, userMessage(err), nil)
	}
	if err := s.saveClient(c.Request().Context(), cl, logo); err != nil {
		return apiError(err, "client")
	}
	s.adminAudit(c, models.EventClientUpdated, models.AuditEvent{ClientID: cl.ID, Detail: models.JSONMap{"via": "api"}})
	return c.JSON(http.StatusOK, toAPIClient(cl))
}

// HandleAPIClientDelete serves DELETE /api/v1/clients/:id.
func (s *Handlers) HandleAPIClientDelete(c echo.Context) error {
	if err := s.db.DeleteClient(c.Request().Context(), c.Param("id")); err != nil {
		return apiError(err, "client")
	}
	s.adminAudit(c, models.EventClientDeleted, models.AuditEvent{ClientID: c.Param("id"), Detail: models.JSONMap{"via": "api"}})
	return c.NoContent(http.StatusNoContent)
}

// HandleAPIClientSecretRotate serves POST /api/v1/clients/:id/secret.
func (s *Handlers) HandleAPIClientSecretRotate(c echo.Context) error {
	cl, err := s.apiClientByID(c)
	if err != nil {
		return err
	}
	if cl.Builtin || cl.Public {
		return web.NewError(http.StatusConflict, "only confidential, non-built-in clients have a secret to rotate", nil)
	}
	secret, err := s.db.RotateClientSecret(c.Request().Context(), cl.ID)
	if err != nil {
		return apiError(err, "client")
	}
	s.adminAudit(c, models.EventClientSecretRotate, models.AuditEvent{ClientID: cl.ID, Detail: models.JSONMap{"via": "api"}})
	return c.JSON(http.StatusOK, map[string]string{"client_id": cl.ID, "client_secret": secret})
}

// HandleAPIKeysList serves GET /api/v1/keys.
func (s *Handlers) HandleAPIKeysList(c echo.Context) error {
	rows, err := s.keyRows(c)
	if err != nil {
		return err
	}
	out := make([]map[string]string, len(rows))
	for i, r := range rows {
		out[i] = map[string]string{"kid": r.ID, "algorithm": r.Algorithm, "created_at": r.Created, "activates_at": r.Activates,
			"state": r.State, "published_until": r.Until}
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": out})
}

// HandleAPIKeysRotate serves POST /api/v1/keys/rotate.
func (s *Handlers) HandleAPIKeysRotate(c echo.Context) error {
	if err := s.op.RotateKeys(c.Request().Context(), actorID(c)); err != nil {
		return err
	}
	return s.HandleAPIKeysList(c)
}

// HandleAPIAuditList returns filtered events as JSON lines (same filters as
// the console: user, type, since, until, before, after), at most limit
// (default and most: 100,000).
func (s *Handlers) HandleAPIAuditList(c echo.Context) error {
	q, _, err := s.parseAuditFilter(c)
	if err != nil {
		return err
	}
	limit := maxAuditExport
	if raw := c.QueryParam("limit"); raw != "" {
		if limit, err = strconv.Atoi(raw); err != nil || limit < 1 || limit > maxAuditExport {
			return web.NewError(http.StatusBadRequest, fmt.Sprintf("limit must be 1 to %d", maxAuditExport), err)
		}
	}
	return s.writeAuditLines(c, q, limit)
}
