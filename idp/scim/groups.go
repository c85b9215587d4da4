package scim

import (
	"net/http"
	"strings"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/scim2/filter-parser/v2"

	"github.com/latchkey-idp/latchkey/models"
)

// A SCIM Group (RFC 7643 §4.2) is one of our groups: displayName is its
// name, members its users (by ID). A group read by ID lists at most
// maxMembers members, by username; a list of groups leaves members out
// (a group may have a million), as clients that read members ask for one
// group.

const maxMembers = models.MaxListLimit

// groupHandler is the Groups resource of one request.
type groupHandler struct{ *request }

var _ scim.ResourceHandler = groupHandler{}

func (g groupHandler) resource(m *models.Group, members []models.User) scim.Resource {
	a := scim.ResourceAttributes{"displayName": m.Name}
	if members != nil {
		ms := make([]any, 0, len(members))
		for _, u := range members {
			ms = append(ms, map[string]any{"value": u.ID, "display": u.Username, "$ref": g.h.cfg.BaseURL + "/Users/" + u.ID, "type": "User"})
		}
		a["members"] = ms
	}
	created := m.CreatedAt
	res := scim.Resource{ID: m.ID, Attributes: a, Meta: scim.Meta{Created: &created, LastModified: &created}}
	if m.ExternalID != "" {
		res.ExternalID = optional.NewString(m.ExternalID)
	}
	return res
}

// withMembers is the group's resource with its first members, unless the
// client excluded them (excludedAttributes=members, RFC 7644 §3.4.2.5).
func (g groupHandler) withMembers(r *http.Request, m *models.Group) (scim.Resource, error) {
	for _, x := range strings.Split(r.URL.Query().Get("excludedAttributes"), ",") {
		if strings.EqualFold(strings.TrimSpace(x), "members") {
			return g.resource(m, nil), nil
		}
	}
	us, _, err := g.h.db.GroupMembersPage(r.Context(), m.ID, models.PageQuery{Limit: maxMembers})
	if err != nil {
		return scim.Resource{}, g.scimError(err, m.ID)
	}
	if us == nil {
		us = []models.User{}
	}
	return g.resource(m, us), nil
}

// memberIDs reads the user IDs of a members value ([{"value": id}, …]).
func memberIDs(v any) []string {
	var ids []string
	list, ok := v.([]any)
	if !ok && v != nil {
		list = []any{v}
	}
	for _, e := range list {
		m, _ := e.(map[string]any)
		if id, _ := m["value"].(string); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// Create serves POST /Groups.
func (g groupHandler) Create(r *http.Request, a scim.ResourceAttributes) (scim.Resource, error) {
	if err := g.checkKnownAttributes(g.h.groups); err != nil {
		return scim.Resource{}, err
	}
	name, _ := a["displayName"].(string)
	ext, _ := a["externalId"].(string)
	members := memberIDs(a["members"])
	m, err := g.h.db.CreateSCIMGroup(r.Context(), name, ext, members)
	if err != nil {
		return scim.Resource{}, g.scimError(err, "group")
	}
	g.audit(r, models.EventGroupCreated, "", models.JSONMap{"group": m.ID, "name": m.Name, "members_added": len(members)})
	return g.withMembers(r, m)
}

// Get serves GET /Groups/{id}.
func (g groupHandler) Get(r *http.Request, id string) (scim.Resource, error) {
	m, err := g.h.db.GroupByID(r.Context(), id)
	if err != nil {
		return scim.Resource{}, g.scimError(err, id)
	}
	return g.withMembers(r, m)
}

// GetAll serves GET /Groups with filter, startIndex and count (list.go).
func (g groupHandler) GetAll(r *http.Request, p scim.ListRequestParams) (scim.Page, error) {
	mq, key, err := g.listQuery(r, p, "Groups", groupFilterAttrs)
	if err != nil {
		return scim.Page{}, err
	}
	l, err := g.h.db.SCIMGroups(r.Context(), mq)
	if err != nil {
		return scim.Page{}, g.listError(err)
	}
	page := scim.Page{Resources: make([]scim.Resource, 0, len(l.Items)),
		TotalResults: total(p.StartIndex-1, len(l.Items), p.Count, l.Total, l.Exact)}
	for i := range l.Items {
		page.Resources = append(page.Resources, g.resource(&l.Items[i], nil))
	}
	if n := len(l.Items); n > 0 {
		g.h.cursors.put(key, p.StartIndex-1+n, l.Items[n-1].Name)
	}
	return page, nil
}

// Replace serves PUT /Groups/{id}: name, external ID and members become
// those given.
func (g groupHandler) Replace(r *http.Request, id string, a scim.ResourceAttributes) (scim.Resource, error) {
	if err := g.checkKnownAttributes(g.h.groups); err != nil {
		return scim.Resource{}, err
	}
	name, _ := a["displayName"].(string)
	ext, _ := a["externalId"].(string)
	return g.update(r, id, models.SCIMGroupChange{Name: &name, ExternalID: &ext, ReplaceMembers: true, SetMembers: memberIDs(a["members"])})
}

// Patch serves PATCH /Groups/{id}: displayName and externalId replaced,
// members added, removed by value or by a filter (members[value eq
// "…"]), or replaced; with or without a path, in any case.
func (g groupHandler) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	var ch models.SCIMGroupChange
	for _, op := range ops {
		if op.Path != nil {
			if err := patchGroup(&ch, op.Op, op.Path, op.Value); err != nil {
				return scim.Resource{}, err
			}
			continue
		}
		values, _ := op.Value.(map[string]any)
		for k, v := range values {
			p, err := filter.ParsePath([]byte(k))
			if err != nil {
				return scim.Resource{}, badRequest(scimerrors.ScimTypeInvalidPath, "Bad attribute path "+k+".")
			}
			if err := patchGroup(&ch, op.Op, &p, v); err != nil {
				return scim.Resource{}, err
			}
		}
	}
	return g.update(r, id, ch)
}

// patchGroup adds one operation on path to the change.
func patchGroup(ch *models.SCIMGroupChange, op string, p *filter.Path, v any) error {
	remove := op == scim.PatchOperationRemove
	str, _ := v.(string)
	switch strings.ToLower(p.AttributePath.AttributeName) {
	case "displayname":
		if remove {
			return badRequest(scimerrors.ScimTypeMutability, "displayName is required and cannot be removed.")
		}
		ch.Name = &str
	case "externalid":
		ch.ExternalID = &str
	case "members":
		switch {
		case remove && p.ValueExpression != nil:
			ids, ok := eqValues(p.ValueExpression)
			if !ok {
				return badRequest(scimerrors.ScimTypeInvalidFilter, `Members are removed by value: members[value eq "ID"].`)
			}
			ch.RemoveMembers = append(ch.RemoveMembers, ids...)
		case remove && v == nil:
			ch.ReplaceMembers, ch.SetMembers, ch.AddMembers, ch.RemoveMembers = true, nil, nil, nil
		case remove:
			ch.RemoveMembers = append(ch.RemoveMembers, memberIDs(v)...)
		case op == scim.PatchOperationReplace:
			ch.ReplaceMembers, ch.SetMembers, ch.AddMembers, ch.RemoveMembers = true, memberIDs(v), nil, nil
		default:
			ch.AddMembers = append(ch.AddMembers, memberIDs(v)...)
		}
	}
	return nil
}

// eqValues reads the IDs of a members filter: value eq "…", or several
// joined with or.
func eqValues(e filter.Expression) ([]string, bool) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		s, ok := e.CompareValue.(string)
		return []string{s}, ok && e.Operator == filter.EQ && strings.EqualFold(e.AttributePath.AttributeName, "value")
	case *filter.LogicalExpression:
		l, ok1 := eqValues(e.Left)
		r, ok2 := eqValues(e.Right)
		return append(l, r...), ok1 && ok2 && e.Operator == filter.OR
	}
	return nil, false
}

func (g groupHandler) update(r *http.Request, id string, ch models.SCIMGroupChange) (scim.Resource, error) {
	m, err := g.h.db.UpdateSCIMGroup(r.Context(), id, ch)
	if err != nil {
		return scim.Resource{}, g.scimError(err, id)
	}
	detail := models.JSONMap{"group": m.ID, "name": m.Name}
	if ch.ReplaceMembers {
		detail["members_set"] = len(ch.SetMembers)
	}
	if len(ch.AddMembers) > 0 {
		detail["members_added"] = auditIDs(ch.AddMembers)
	}
	if len(ch.RemoveMembers) > 0 {
		detail["members_removed"] = auditIDs(ch.RemoveMembers)
	}
	g.audit(r, models.EventGroupUpdated, "", detail)
	return g.withMembers(r, m)
}

// auditIDs is a list of member IDs for an audit event: the IDs when few,
// otherwise their number (a body of 1 MiB may name 20,000).
func auditIDs(ids []string) any {
	if len(ids) > 50 {
		return len(ids)
	}
	return ids
}

// Delete serves DELETE /Groups/{id} (memberships go with it).
func (g groupHandler) Delete(r *http.Request, id string) error {
	m, err := g.h.db.GroupByID(r.Context(), id)
	if err != nil {
		return g.scimError(err, id)
	}
	if err := g.h.db.DeleteGroup(r.Context(), id); err != nil {
		return g.scimError(err, id)
	}
	g.audit(r, models.EventGroupDeleted, "", models.JSONMap{"group": id, "name": m.Name})
	return nil
}
