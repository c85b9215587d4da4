package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
)

// The admin REST API (/api/v1 on the internal listener, docs/openapi.yaml)
// offers the console's operations to scripts. It is authenticated by API
// tokens (Authorization: Bearer lk_…), stored hashed, revocable and
// optionally expiring; errors are JSON {"error": …, "request_id": …}.

const apiTokenKey = "latchkey.api_token" //nolint:gosec // G101: the echo context key under which the authenticated token's record is kept, not a token

// RequireAPIToken authenticates a Bearer API token (RFC 6750 §2.1).
func (s *Handlers) RequireAPIToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// The auth scheme is case-insensitive (RFC 9110 §11.1): "bearer"
		// and "BEARER" name the Bearer scheme too.
		scheme, raw, ok := strings.Cut(strings.TrimSpace(c.Request().Header.Get("Authorization")), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="latchkey-admin"`)
			return web.NewError(http.StatusUnauthorized, "An API token is required (Authorization: Bearer …).", nil)
		}
		t, err := s.db.APITokenByRaw(c.Request().Context(), strings.TrimSpace(raw))
		if errors.Is(err, models.ErrNotFound) {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="latchkey-admin", error="invalid_token"`)
			return web.NewError(http.StatusUnauthorized, "The API token is unknown, revoked or expired.", err)
		} else if err != nil {
			return err
		}
		c.Set(apiTokenKey, t)
		return next(c)
	}
}

// apiError maps models errors to API errors.
func apiError(err error, what string) error {
	switch {
	case errors.Is(err, models.ErrNotFound):
		return web.NewError(http.StatusNotFound, what+" not found", err)
	case errors.Is(err, models.ErrConflict):
		return web.NewError(http.StatusConflict, userMessage(err), err)
	case errors.Is(err, models.ErrInvalid):
		return web.NewError(http.StatusUnprocessableEntity, userMessage(err), err)
	}
	return err
}

// APIUser is a user in the admin API (docs/openapi.yaml).
type APIUser struct {
	ID            string         `json:"id"`
	Username      string         `json:"username"`
	Email         string         `json:"email"`
	EmailVerified bool           `json:"email_verified"`
	DisplayName   string         `json:"display_name"`
	Disabled      bool           `json:"disabled"`
	Admin         bool           `json:"admin"`
	Groups        []string       `json:"groups"`
	CustomClaims  models.JSONMap `json:"custom_claims"`
	Locale        string         `json:"locale"`
	CreatedAt     string         `json:"created_at"`
}

func toAPIUser(u *models.User) APIUser {
	g := u.GroupNames()
	if g == nil {
		g = []string{}
	}
	return APIUser{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, DisplayName: u.DisplayName,
		Disabled: u.Disabled, Admin: u.IsAdmin, Groups: g, CustomClaims: u.CustomClaims, Locale: u.Locale, CreatedAt: u.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")}
}

// HandleAPIUsersList serves GET /api/v1/users: a page of users by
// username (?limit=, ?after= a username, the "next" of the previous page),
// searched by a prefix of username, email or name (?q=).
func (s *Handlers) HandleAPIUsersList(c echo.Context) error {
	page, err := apiPage(c)
	if err != nil {
		return err
	}
	us, more, err := s.db.SearchUsers(c.Request().Context(), models.UserSearch{PageQuery: page, Prefix: c.QueryParam("q")})
	if err != nil {
		return apiError(err, "users")
	}
	out := make([]APIUser, len(us))
	for i := range us {
		out[i] = toAPIUser(&us[i].User)
	}
	return c.JSON(http.StatusOK, apiList{"users": out, "next": apiNext(more, func() string { return us[len(us)-1].Username })})
}

// apiList is the answer of a list: its items under their name, and "next",
// the cursor of the following page, present only when one follows.
type apiList map[string]any

// MarshalJSON leaves out an empty "next".
func (l apiList) MarshalJSON() ([]byte, error) {
	m := map[string]any(l)
	if n, _ := m["next"].(string); n == "" {
		m = maps.Clone(m)
		delete(m, "next")
	}
	return json.Marshal(m)
}

// apiUserInput is the body of user create and update; absent fields keep
// their value on update.
type apiUserInput struct {
	Username      *string         `json:"username"`
	Email         *string         `json:"email"`
	EmailVerified *bool           `json:"email_verified"`
	DisplayName   *string         `json:"display_name"`
	Admin         *bool           `json:"admin"`
	Groups        *[]string       `json:"groups"`
	CustomClaims  *models.JSONMap `json:"custom_claims"`
	Locale        *string         `json:"locale"`   // a shipped language, "" for the browser's choice
	Disabled      *bool           `json:"disabled"` // update only
}

// checkLocale refuses a language Latchkey does not ship (422, like every
// other invalid field).
func (in *apiUserInput) checkLocale() error {
	if in.Locale == nil || *in.Locale == "" || i18n.Supported(*in.Locale) {
		return nil
	}
	return web.NewError(http.StatusUnprocessableEntity, fmt.Sprintf("locale %q is not a shipped language (%s, or \"\" for the browser's choice)",
		web.Truncate(*in.Locale, 16), strings.Join(languageTags(), ", ")), models.ErrInvalid)
}

func languageTags() []string {
	out := make([]string, len(i18n.Languages))
	for i, l := range i18n.Languages {
		out[i] = l.Tag
	}
	return out
}

func (in *apiUserInput) apply(u *models.User) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.Username, in.Username)
	set(&u.Email, in.Email)
	set(&u.DisplayName, in.DisplayName)
	if in.EmailVerified != nil {
		u.EmailVerified = *in.EmailVerified
	}
	if in.Admin != nil {
		u.IsAdmin = *in.Admin
	}
	if in.CustomClaims != nil {
		u.CustomClaims = *in.CustomClaims
	}
	set(&u.Locale, in.Locale)
}

// HandleAPIUserCreate serves POST /api/v1/users.
func (s *Handlers) HandleAPIUserCreate(c echo.Context) error {
	ctx := c.Request().Context()
	var in apiUserInput
	if err := web.DecodeJSON(c, &in); err != nil {
		return err
	}
	if err := in.checkLocale(); err != nil {
		return err
	}
	u := &models.User{}
	in.apply(u)
	var err error
	if u.DisplayName, err = models.CheckDisplayName(u.DisplayName); err != nil {
		return apiError(err, "user")
	}
	if u.CustomClaims != nil {
		if err := models.CheckCustomClaims(u.CustomClaims); err != nil {
			return apiError(err, "user")
		}
	}
	if err := s.db.CreateUser(ctx, u); err != nil {
		return apiError(err, "user")
	}
	if in.Groups != nil {
		if err := s.setUserGroups(ctx, u.ID, *in.Groups); err != nil {
			return apiError(err, "group")
		}
	}
	s.adminAudit(c, models.EventUserCreated, models.AuditEvent{UserID: u.ID, Detail: models.JSONMap{"username": u.Username, "via": "api"}})
	link, err := s.issueSetupLink(ctx, u.ID, actorID(c))
	if err != nil {
		return err
	}
	u, err = s.db.UserByID(ctx, u.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"user": toAPIUser(u), "setup_url": link})
}

// apiUser loads the user a path names by ID or, failing that, by
// username. Errors: 404 JSON.
func (s *Handlers) apiUser(c echo.Context) (*models.User, error) {
	ctx, ref := c.Request().Context(), c.Param("id")
	u, err := s.db.UserByID(ctx, ref)
	if errors.Is(err, models.ErrNotFound) {
		u, err = s.db.UserByUsername(ctx, ref)
	}
	if err != nil {
		return nil, apiError(err, "user")
	}
	return u, nil
}

// HandleAPIUserGet serves GET /api/v1/users/:id (an ID or a username).
func (s *Handlers) HandleAPIUserGet(c echo.Context) error {
	u, err := s.apiUser(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIUser(u))
}

// HandleAPIUserUpdate serves PATCH /api/v1/users/:id (an ID or a
// username): the fields present change, in one transaction
// (models.EditUser), the others keep their value; groups must exist.
// Setting disabled revokes the user's sessions and tokens as the disable
// action does. One audit event lists the fields that changed.
func (s *Handlers) HandleAPIUserUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	var in apiUserInput
	if err := web.DecodeJSON(c, &in); err != nil {
		return err
	}
	if err := in.checkLocale(); err != nil {
		return err
	}
	u, err := s.apiUser(c)
	if err != nil {
		return err
	}
	changed, err := s.db.EditUser(ctx, u.ID, models.UserEdit{Username: in.Username, Email: in.Email, EmailVerified: in.EmailVerified,
		DisplayName: in.DisplayName, IsAdmin: in.Admin, Disabled: in.Disabled, CustomClaims: in.CustomClaims, Locale: in.Locale, Groups: in.Groups})
	if err != nil {
		return apiError(err, "user")
	}
	if len(changed) > 0 {
		s.adminAudit(c, models.EventUserUpdated, models.AuditEvent{UserID: u.ID, Detail: models.JSONMap{"via": "api", "username": u.Username, "changed": changed}})
	}
	if u, err = s.db.UserByID(ctx, u.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIUser(u))
}

// HandleAPIUserDelete serves DELETE /api/v1/users/:id.
func (s *Handlers) HandleAPIUserDelete(c echo.Context) error {
	id := c.Param("id")
	if err := s.db.DeleteUser(c.Request().Context(), id); err != nil {
		return apiError(err, "user")
	}
	s.adminAudit(c, models.EventUserDeleted, models.AuditEvent{UserID: id, Detail: models.JSONMap{"via": "api"}})
	return c.NoContent(http.StatusNoContent)
}

// HandleAPIUserDisable serves POST /api/v1/users/:id/disable, POST /api/v1/users/:id/enable.
func (s *Handlers) HandleAPIUserDisable(c echo.Context) error {
	ctx := c.Request().Context()
	id, disable := c.Param("id"), strings.HasSuffix(c.Path(), "/disable")
	if disable {
		if err := s.db.CheckNotLastAdmin(ctx, id); err != nil {
			return apiError(err, "user")
		}
	}
	if err := s.db.SetUserDisabled(ctx, id, disable); err != nil {
		return apiError(err, "user")
	}
	typ := models.EventUserEnabled
	if disable {
		typ = models.EventUserDisabled
	}
	s.adminAudit(c, typ, models.AuditEvent{UserID: id, Detail: models.JSONMap{"via": "api"}})
	return s.HandleAPIUserGet(c)
}

// HandleAPISetupLinkCreate serves POST /api/v1/users/:id/setup-link.
func (s *Handlers) HandleAPISetupLinkCreate(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.db.UserByID(ctx, c.Param("id"))
	if err != nil {
		return apiError(err, "user")
	}
	if u.Disabled {
		return web.NewError(http.StatusConflict, "the user is disabled", nil)
	}
	link, err := s.issueSetupLink(ctx, u.ID, actorID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"setup_url": link})
}
