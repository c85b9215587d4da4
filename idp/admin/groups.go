package admin

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

type adminGroupsPage struct {
	adminBase
	Groups  []models.GroupInfo
	Name    string
	Group   *models.Group
	Members []models.User
	pager   // of the groups, or of the group's members
}

// HandleGroupsList serves GET /admin/groups: a page of groups by name,
// paged by cursor (?after=, ?before=).
func (s *Handlers) HandleGroupsList(c echo.Context) error {
	return s.renderGroups(c, http.StatusOK, &adminGroupsPage{adminBase: s.adminBase(c, "groups")})
}

func (s *Handlers) renderGroups(c echo.Context, status int, p *adminGroupsPage) error {
	page := consolePage(c)
	gs, more, err := s.db.ListGroupsPage(c.Request().Context(), page)
	if err != nil {
		return err
	}
	p.Groups = gs
	if len(gs) > 0 {
		p.pager = links("/admin/groups", nil, page, more, gs[0].Name, gs[len(gs)-1].Name)
	}
	return s.Render(c, status, "admin_groups", p)
}

// HandleGroupCreate serves POST /admin/groups.
func (s *Handlers) HandleGroupCreate(c echo.Context) error {
	name := c.FormValue("name")
	g, err := s.db.CreateGroup(c.Request().Context(), name)
	if err != nil {
		if msg := userMessage(err); msg != "" {
			p := &adminGroupsPage{adminBase: s.adminBase(c, "groups"), Name: name}
			p.Error = msg
			return s.renderGroups(c, http.StatusBadRequest, p)
		}
		return err
	}
	s.adminAudit(c, models.EventGroupCreated, models.AuditEvent{Detail: models.JSONMap{"group": g.ID, "name": g.Name}})
	return c.Redirect(http.StatusSeeOther, "/admin/groups/"+g.ID+"?done=group-created")
}

// renderGroup shows a group with a page of its members by username,
// paged by cursor (?after=, ?before=).
func (s *Handlers) renderGroup(c echo.Context, status int, g *models.Group, errMsg string) error {
	page := consolePage(c)
	members, more, err := s.db.GroupMembersPage(c.Request().Context(), g.ID, page)
	if err != nil {
		return err
	}
	p := &adminGroupsPage{adminBase: s.adminBase(c, "groups"), Group: g, Members: members, Name: g.Name}
	if len(members) > 0 {
		p.pager = links("/admin/groups/"+g.ID, nil, page, more, members[0].Username, members[len(members)-1].Username)
	}
	p.Error = errMsg
	return s.Render(c, status, "admin_group", p)
}

func (s *Handlers) adminGroup(c echo.Context) (*models.Group, error) {
	g, err := s.db.GroupByID(c.Request().Context(), c.Param("id"))
	return g, web.NotFound("group", err)
}

// HandleGroupShow serves GET /admin/groups/:id.
func (s *Handlers) HandleGroupShow(c echo.Context) error {
	g, err := s.adminGroup(c)
	if err != nil {
		return err
	}
	return s.renderGroup(c, http.StatusOK, g, "")
}

// HandleGroupUpdate serves POST /admin/groups/:id.
func (s *Handlers) HandleGroupUpdate(c echo.Context) error {
	g, err := s.adminGroup(c)
	if err != nil {
		return err
	}
	name := c.FormValue("name")
	if err := s.db.RenameGroup(c.Request().Context(), g.ID, name); err != nil {
		if msg := userMessage(err); msg != "" {
			return s.renderGroup(c, http.StatusBadRequest, g, msg)
		}
		return err
	}
	s.adminAudit(c, models.EventGroupUpdated, models.AuditEvent{Detail: models.JSONMap{"group": g.ID, "old_name": g.Name, "name": strings.TrimSpace(name)}})
	return c.Redirect(http.StatusSeeOther, "/admin/groups/"+g.ID+"?done=group-saved")
}

// HandleGroupRecovery serves POST /admin/groups/:id/recovery: recovery
// "off" or "on" for the group's members.
func (s *Handlers) HandleGroupRecovery(c echo.Context) error {
	g, err := s.adminGroup(c)
	if err != nil {
		return err
	}
	var off bool
	switch c.FormValue("recovery") {
	case "off":
		off = true
	case "on":
	default:
		return s.renderGroup(c, http.StatusBadRequest, g, "Choose whether members may recover their account by email.")
	}
	if err := s.db.SetGroupRecovery(c.Request().Context(), g.ID, off); err != nil {
		return err
	}
	if off != g.RecoveryDisabled {
		s.adminAudit(c, models.EventGroupUpdated, models.AuditEvent{Detail: models.JSONMap{"group": g.ID, "name": g.Name, "recovery_disabled": off}})
	}
	return c.Redirect(http.StatusSeeOther, "/admin/groups/"+g.ID+"?done=group-saved")
}

// HandleGroupDelete serves POST /admin/groups/:id/delete.
func (s *Handlers) HandleGroupDelete(c echo.Context) error {
	g, err := s.adminGroup(c)
	if err != nil {
		return err
	}
	if err := s.db.DeleteGroup(c.Request().Context(), g.ID); err != nil {
		return err
	}
	s.adminAudit(c, models.EventGroupDeleted, models.AuditEvent{Detail: models.JSONMap{"group": g.ID, "name": g.Name}})
	return c.Redirect(http.StatusSeeOther, "/admin/groups?done=group-deleted")
}

// HandleGroupMemberAdd serves POST /admin/groups/:id/members.
func (s *Handlers) HandleGroupMemberAdd(c echo.Context) error {
	ctx := c.Request().Context()
	g, err := s.adminGroup(c)
	if err != nil {
		return err
	}
	u, err := s.db.UserByUsername(ctx, c.FormValue("username"))
	if err != nil {
		return s.renderGroup(c, http.StatusBadRequest, g, "There is no user with that username.")
	}
	if err := s.db.AddGroupMember(ctx, g.ID, u.ID); err != nil {
		return err
	}
	s.adminAudit(c, models.EventGroupUpdated, models.AuditEvent{UserID: u.ID, Detail: models.JSONMap{"group": g.ID, "added": u.Username}})
	return c.Redirect(http.StatusSeeOther, "/admin/groups/"+g.ID+"?done=member-added")
}

// HandleGroupMemberRemove serves POST /admin/groups/:id/members/:uid/remove.
func (s *Handlers) HandleGroupMemberRemove(c echo.Context) error {
	g, err := s.adminGroup(c)
	if err != nil {
		return err
	}
	uid := c.Param("uid")
	if err := s.db.RemoveGroupMember(c.Request().Context(), g.ID, uid); err != nil {
		return err
	}
	s.adminAudit(c, models.EventGroupUpdated, models.AuditEvent{UserID: uid, Detail: models.JSONMap{"group": g.ID, "removed": uid}})
	return c.Redirect(http.StatusSeeOther, "/admin/groups/"+g.ID+"?done=member-removed")
}
