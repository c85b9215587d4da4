package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
)

type adminUsersPage struct {
	adminBase
	Query string
	Users []models.UserListing
	Paged bool // read after or before a cursor, not the first page
	pager
}

// HandleUsersList serves GET /admin/users: a page of users by username,
// searched on the server by a prefix of username, email or name
// (?q=), paged by cursor (?after=, ?before=).
func (s *Handlers) HandleUsersList(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	page := consolePage(c)
	us, more, err := s.db.SearchUsers(c.Request().Context(), models.UserSearch{PageQuery: page, Prefix: q})
	if err != nil {
		return err
	}
	p := &adminUsersPage{adminBase: s.adminBase(c, "users"), Query: q, Users: us, Paged: page.After != "" || page.Before != ""}
	if len(us) > 0 {
		p.pager = links("/admin/users", url.Values{"q": {q}}, page, more, us[0].Username, us[len(us)-1].Username)
	}
	return s.Render(c, http.StatusOK, "admin_users", p)
}

type adminUserForm struct {
	adminBase
	Languages    []i18n.Language // the choices of the user's language
	New          bool
	User         *models.User
	Claims       string
	Passkeys     []web.PasskeyRow
	Sessions     []models.Session
	Apps         []web.AppRow // applications holding live tokens for the user
	Self         bool
	SetupLink    string
	SetupLinkQR  template.URL
	SetupExpires string
	Mail         []MailRow // mail.go
	MailSends    bool
}

// HandleUserNew serves GET /admin/users/new.
func (s *Handlers) HandleUserNew(c echo.Context) error {
	return s.renderUserForm(c, http.StatusOK, &adminUserForm{adminBase: s.adminBase(c, "users"), New: true, User: &models.User{}, Claims: "{}"})
}

func (s *Handlers) renderUserForm(c echo.Context, status int, p *adminUserForm) error {
	ctx := c.Request().Context()
	if !p.New {
		creds, err := s.db.CredentialsByUser(ctx, p.User.ID)
		if err != nil {
			return err
		}
		p.Passkeys = s.withPolicy(ctx, p.User.ID, web.PasskeyRows(creds))
		if p.Sessions, err = s.db.SessionsByUser(ctx, p.User.ID); err != nil {
			return err
		}
		apps, err := s.db.ConnectedApps(ctx, p.User.ID)
		if err != nil {
			return err
		}
		for _, a := range apps {
			p.Apps = append(p.Apps, web.AppRow{ConnectedApp: a, LastUsedText: web.FormatTime(a.LastUsed)})
		}
		p.Self = p.Admin != nil && p.Admin.ID == p.User.ID
		if p.Mail, err = s.userMail(ctx, p.User.ID); err != nil {
			return err
		}
		p.MailSends = s.mail.Sends
	}
	p.Languages = i18n.Languages
	name := "admin_user"
	if p.New {
		name = "admin_user_new"
	}
	return s.Render(c, status, name, p)
}

// userFromForm reads the user form fields into u and returns the custom
// claims text and the selected group names.
func userFromForm(c echo.Context, u *models.User) (claims string, groups []string, err error) {
	u.Username = strings.TrimSpace(c.FormValue("username"))
	u.DisplayName = strings.TrimSpace(c.FormValue("display_name"))
	u.Email = strings.TrimSpace(c.FormValue("email"))
	u.EmailVerified = c.FormValue("email_verified") == "on"
	u.IsAdmin = c.FormValue("is_admin") == "on"
	u.Locale = c.FormValue("locale")
	claims = strings.TrimSpace(c.FormValue("custom_claims"))
	if claims == "" {
		claims = "{}"
	}
	var m models.JSONMap
	if e := json.Unmarshal([]byte(claims), &m); e != nil || m == nil {
		err = formError(`Custom claims must be a JSON object, for example {"department": "sales"}.`)
	} else if e := models.CheckCustomClaims(m); e != nil {
		err = formError(userMessage(e))
	}
	if u.Locale != "" && !i18n.Supported(u.Locale) {
		err = formError(fmt.Sprintf("%q is not a language Latchkey speaks; choose one of the list.", web.Truncate(u.Locale, 16)))
		u.Locale = ""
	}
	u.CustomClaims = m
	groups = formGroups(c) // group_picker.go
	u.Groups = nil         // shown ticked again if the form comes back
	for _, g := range groups {
		u.Groups = append(u.Groups, models.Group{Name: g})
	}
	return claims, groups, err
}

// HandleUserCreate serves POST /admin/users.
func (s *Handlers) HandleUserCreate(c echo.Context) error {
	ctx := c.Request().Context()
	u := &models.User{}
	claims, groups, ferr := userFromForm(c, u)
	p := &adminUserForm{adminBase: s.adminBase(c, "users"), New: true, User: u, Claims: claims}
	if ferr != nil {
		p.Error = ferr.Error()
		return s.renderUserForm(c, http.StatusBadRequest, p)
	}
	// Typed group names are checked before anything is written.
	if msg, err := s.checkGroupsExist(ctx, groups); err != nil {
		return err
	} else if msg != "" {
		p.Error = msg
		return s.renderUserForm(c, http.StatusBadRequest, p)
	}
	var err error
	if u.DisplayName, err = models.CheckDisplayName(u.DisplayName); err == nil {
		err = s.db.CreateUser(ctx, u)
	}
	if err != nil {
		if msg := userMessage(err); msg != "" {
			p.Error = msg
			return s.renderUserForm(c, http.StatusBadRequest, p)
		}
		return err
	}
	if err := s.setUserGroups(ctx, u.ID, groups); err != nil {
		return err
	}
	s.adminAudit(c, models.EventUserCreated, models.AuditEvent{UserID: u.ID,
		Detail: models.JSONMap{"username": u.Username, "admin": u.IsAdmin, "groups": groups}})
	return s.showSetupLink(c, u, http.StatusCreated)
}

// showSetupLink issues a new one-time setup link and shows it once, with a
// QR code for a phone.
func (s *Handlers) showSetupLink(c echo.Context, u *models.User, status int) error {
	link, err := s.issueSetupLink(c.Request().Context(), u.ID, currentAdmin(c).ID)
	if err != nil {
		return err
	}
	qr, err := qrDataURI(link)
	if err != nil {
		return err
	}
	return s.Render(c, status, "admin_link", &adminUserForm{adminBase: s.adminBase(c, "users", "admin.js"), User: u,
		SetupLink: link, SetupLinkQR: qr, SetupExpires: web.HumanUntil(s.cfg.SetupLinkTTL)})
}

func (s *Handlers) adminUser(c echo.Context) (*models.User, error) {
	u, err := s.db.UserByID(c.Request().Context(), c.Param("id"))
	return u, web.NotFound("user", err)
}

// HandleUserShow serves GET /admin/users/:id.
func (s *Handlers) HandleUserShow(c echo.Context) error {
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	claims, _ := json.MarshalIndent(u.CustomClaims, "", "  ")
	return s.renderUserForm(c, http.StatusOK, &adminUserForm{adminBase: s.adminBase(c, "users"), User: u, Claims: string(claims)})
}

// HandleUserUpdate serves POST /admin/users/:id.
func (s *Handlers) HandleUserUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	claims, groups, ferr := userFromForm(c, u)
	p := &adminUserForm{adminBase: s.adminBase(c, "users"), User: u, Claims: claims}
	var changed []string
	if ferr == nil {
		// One transaction: a bad value (or an unknown group) changes
		// nothing; the form lists existing groups only.
		changed, ferr = s.db.EditUser(ctx, u.ID, models.UserEdit{Username: &u.Username, Email: &u.Email, EmailVerified: &u.EmailVerified,
			DisplayName: &u.DisplayName, IsAdmin: &u.IsAdmin, CustomClaims: &u.CustomClaims, Locale: &u.Locale, Groups: &groups})
		if msg := userMessage(ferr); msg != "" {
			ferr = formError(msg)
		} else if ferr != nil {
			return ferr
		}
	}
	if ferr != nil {
		p.Error = ferr.Error()
		return s.renderUserForm(c, http.StatusBadRequest, p)
	}
	if len(changed) > 0 {
		s.adminAudit(c, models.EventUserUpdated, models.AuditEvent{UserID: u.ID,
			Detail: models.JSONMap{"username": u.Username, "changed": changed}})
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+u.ID+"?done=user-saved")
}

// HandleUserAction runs a state change on the user named in the path, audits it
// and redirects back to the user page (or to done's page).
func (s *Handlers) HandleUserAction(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	back := "/admin/users/" + u.ID
	refuse := func(msg string) error {
		return &web.Error{Status: http.StatusConflict, Message: msg, Hint: "Go back to the user's page."}
	}
	switch action := c.Param("action"); action {
	case "disable":
		if err := s.db.CheckNotLastAdmin(ctx, u.ID); err != nil {
			return refuse("This is the last enabled admin; make another user an admin before disabling it.")
		}
		if err := s.db.SetUserDisabled(ctx, u.ID, true); err != nil {
			return err
		}
		s.adminAudit(c, models.EventUserDisabled, models.AuditEvent{UserID: u.ID})
		return c.Redirect(http.StatusSeeOther, back+"?done=user-disabled")
	case "enable":
		if err := s.db.SetUserDisabled(ctx, u.ID, false); err != nil {
			return err
		}
		s.adminAudit(c, models.EventUserEnabled, models.AuditEvent{UserID: u.ID})
		return c.Redirect(http.StatusSeeOther, back+"?done=user-enabled")
	case "delete":
		if err := s.db.DeleteUser(ctx, u.ID); err != nil {
			if errors.Is(err, models.ErrInvalid) {
				return refuse("This is the last enabled admin; it cannot be deleted.")
			}
			return err
		}
		s.adminAudit(c, models.EventUserDeleted, models.AuditEvent{UserID: u.ID, Detail: models.JSONMap{"username": u.Username}})
		return c.Redirect(http.StatusSeeOther, "/admin/users?done=user-deleted")
	case "setup-link":
		if u.Disabled {
			return refuse("This user is disabled; enable the account before issuing a setup link.")
		}
		return s.showSetupLink(c, u, http.StatusOK)
	case "invite":
		return s.inviteFromConsole(c, u) // mail.go
	case "end-sessions":
		if err := s.db.EndUserSessions(ctx, u.ID); err != nil {
			return err
		}
		s.adminAudit(c, models.EventSessionEnded, models.AuditEvent{UserID: u.ID, Detail: models.JSONMap{"session": "all"}})
		return c.Redirect(http.StatusSeeOther, back+"?done=sessions-ended")
	}
	return echo.ErrNotFound
}

// HandlePasskeyRevoke serves POST /admin/users/:id/passkeys/:cid/revoke.
func (s *Handlers) HandlePasskeyRevoke(c echo.Context) error {
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	if err := s.db.DeleteCredential(c.Request().Context(), u.ID, c.Param("cid")); err != nil {
		return web.NotFound("passkey", err)
	}
	s.adminAudit(c, models.EventPasskeyRemoved, models.AuditEvent{UserID: u.ID, Detail: models.JSONMap{"credential": c.Param("cid")}})
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+u.ID+"?done=passkey-revoked")
}

// HandleSessionEnd serves any method on /end_session, POST /admin/users/:id/sessions/:sid/end.
func (s *Handlers) HandleSessionEnd(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	sess, err := s.db.SessionByID(ctx, c.Param("sid"))
	if err != nil || sess.UserID != u.ID {
		return web.NotFound("session", models.ErrNotFound)
	}
	if err := s.db.EndSession(ctx, sess.ID); err != nil {
		return err
	}
	s.adminAudit(c, models.EventSessionEnded, models.AuditEvent{UserID: u.ID, Detail: models.JSONMap{"session": sess.ID}})
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+u.ID+"?done=session-ended")
}

// HandleAppRevoke revokes every token an application holds for the
// user (the admin's "log the user out of this application").
func (s *Handlers) HandleAppRevoke(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	cl, err := s.db.ClientByID(ctx, c.Param("cid"))
	if err != nil {
		return web.NotFound("application", err)
	}
	if err := s.db.RevokeClientTokensForUser(ctx, u.ID, cl.ID); err != nil {
		return err
	}
	s.adminAudit(c, models.EventAppTokensRevoked, models.AuditEvent{UserID: u.ID, ClientID: cl.ID, Detail: models.JSONMap{"name": cl.Name}})
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+u.ID+"?done=app-revoked")
}

// setUserGroups makes the user a member of exactly the named groups,
// creating missing ones (the API's user creation), in one transaction that
// reads only the named groups (models.EditUser finds them by name, so a
// renamed group keeps its members).
func (s *Handlers) setUserGroups(ctx context.Context, userID string, names []string) error {
	var want []string
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			want = append(want, n)
		}
	}
	_, err := s.db.EditUser(ctx, userID, models.UserEdit{Groups: &want, CreateGroups: true})
	return err
}
