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

// A SCIM User (RFC 7643 §4.1) is one of our users: userName is the
// username, displayName (else name.formatted, else given and family name)
// the display name, the primary (else work, else first) email the email,
// active the opposite of disabled, externalId the directory's ID, and
// groups (read-only) the user's groups. Other attributes of the core
// schema and of the enterprise extension are accepted and not kept: a
// passkey-only provider has no password, phone or address to store.

// userHandler is the Users resource of one request.
type userHandler struct{ *request }

var _ scim.ResourceHandler = userHandler{}

func (u userHandler) resource(m *models.User) scim.Resource {
	a := scim.ResourceAttributes{"userName": m.Username, "active": !m.Disabled}
	if m.DisplayName != "" {
		a["displayName"] = m.DisplayName
		a["name"] = map[string]any{"formatted": m.DisplayName}
	}
	if m.Email != "" {
		a["emails"] = []any{map[string]any{"value": m.Email, "type": "work", "primary": true}}
	}
	if len(m.Groups) > 0 {
		gs := make([]any, 0, len(m.Groups))
		for _, g := range m.Groups {
			gs = append(gs, map[string]any{"value": g.ID, "display": g.Name, "$ref": u.h.cfg.BaseURL + "/Groups/" + g.ID, "type": "direct"})
		}
		a["groups"] = gs
	}
	res := scim.Resource{ID: m.ID, Attributes: a, Meta: scim.Meta{Created: &m.CreatedAt, LastModified: &m.UpdatedAt}}
	if m.ExternalID != "" {
		res.ExternalID = optional.NewString(m.ExternalID)
	}
	return res
}

// userFromAttributes reads the attributes we keep from a validated
// resource. Active is left as it is when absent (a replace without it
// does not enable a disabled user).
func userFromAttributes(a scim.ResourceAttributes, in *models.SCIMUser) {
	in.Username, _ = a["userName"].(string)
	in.DisplayName = displayNameOf(a)
	in.Email = primaryEmail(a["emails"])
	in.ExternalID, _ = a["externalId"].(string)
	if v, ok := a["active"].(bool); ok {
		in.Active = v
	}
}

func displayNameOf(a scim.ResourceAttributes) string {
	if s, _ := a["displayName"].(string); strings.TrimSpace(s) != "" {
		return s
	}
	name, _ := a["name"].(map[string]any)
	if s, _ := name["formatted"].(string); strings.TrimSpace(s) != "" {
		return s
	}
	given, _ := name["givenName"].(string)
	family, _ := name["familyName"].(string)
	return strings.TrimSpace(given + " " + family)
}

// primaryEmail picks the email to keep from a multi-valued emails
// attribute: the primary one (RFC 7643 §2.4), else the work one, else the
// first.
func primaryEmail(v any) string {
	list, _ := v.([]any)
	first, work := "", ""
	for i, e := range list {
		m, _ := e.(map[string]any)
		value, _ := m["value"].(string)
		if p, _ := m["primary"].(bool); p {
			return value
		}
		if i == 0 {
			first = value
		}
		if t, _ := m["type"].(string); work == "" && strings.EqualFold(t, "work") {
			work = value
		}
	}
	if work != "" {
		return work
	}
	return first
}

// Create serves POST /Users.
func (u userHandler) Create(r *http.Request, a scim.ResourceAttributes) (scim.Resource, error) {
	if err := u.checkKnownAttributes(u.h.users, u.h.ext); err != nil {
		return scim.Resource{}, err
	}
	in := models.SCIMUser{Active: true}
	userFromAttributes(a, &in)
	m, err := u.h.db.CreateSCIMUser(r.Context(), in)
	if err != nil {
		return scim.Resource{}, u.scimError(err, "user")
	}
	u.audit(r, models.EventUserCreated, m.ID, models.JSONMap{"username": m.Username, "active": !m.Disabled})
	return u.resource(m), nil
}

// Get serves GET /Users/{id}.
func (u userHandler) Get(r *http.Request, id string) (scim.Resource, error) {
	m, err := u.h.db.UserByID(r.Context(), id)
	if err != nil {
		return scim.Resource{}, u.scimError(err, id)
	}
	return u.resource(m), nil
}

// GetAll serves GET /Users with filter, startIndex and count (list.go).
func (u userHandler) GetAll(r *http.Request, p scim.ListRequestParams) (scim.Page, error) {
	mq, key, err := u.listQuery(r, p, "Users", userFilterAttrs)
	if err != nil {
		return scim.Page{}, err
	}
	l, err := u.h.db.SCIMUsers(r.Context(), mq)
	if err != nil {
		return scim.Page{}, u.listError(err)
	}
	page := scim.Page{Resources: make([]scim.Resource, 0, len(l.Items)),
		TotalResults: total(p.StartIndex-1, len(l.Items), p.Count, l.Total, l.Exact)}
	for i := range l.Items {
		page.Resources = append(page.Resources, u.resource(&l.Items[i]))
	}
	if n := len(l.Items); n > 0 {
		u.h.cursors.put(key, p.StartIndex-1+n, l.Items[n-1].Username)
	}
	return page, nil
}

// Replace serves PUT /Users/{id} (RFC 7644 §3.5.1): the kept attributes
// become those given; absent ones are cleared, except active.
func (u userHandler) Replace(r *http.Request, id string, a scim.ResourceAttributes) (scim.Resource, error) {
	if err := u.checkKnownAttributes(u.h.users, u.h.ext); err != nil {
		return scim.Resource{}, err
	}
	return u.update(r, id, func(in *models.SCIMUser) error {
		userFromAttributes(a, in)
		return nil
	})
}

// Patch serves PATCH /Users/{id} (RFC 7644 §3.5.2), in the shapes Entra
// ID and Okta send: an op in any case ("Replace"), a path or none (a
// value holding the attributes), booleans as strings ("False").
func (u userHandler) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	return u.update(r, id, func(in *models.SCIMUser) error {
		for _, op := range ops {
			if op.Path != nil {
				if err := patchUser(in, op.Op, op.Path, op.Value); err != nil {
					return err
				}
				continue
			}
			values, _ := op.Value.(map[string]any)
			for k, v := range values {
				if strings.HasPrefix(strings.ToLower(k), "urn:") && !strings.HasPrefix(k, u.h.users.ID+":") {
					continue // an extension's attributes: accepted, not kept
				}
				p, err := filter.ParsePath([]byte(strings.TrimPrefix(k, u.h.users.ID+":")))
				if err != nil {
					return badRequest(scimerrors.ScimTypeInvalidPath, "Bad attribute path "+k+".")
				}
				if err := patchUser(in, op.Op, &p, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// patchUser applies one operation on path to the kept attributes.
func patchUser(in *models.SCIMUser, op string, p *filter.Path, v any) error {
	if uri := p.AttributePath.URI(); uri != "" && !strings.EqualFold(uri, schemaUser) {
		return nil // an extension's attribute: accepted, not kept
	}
	remove := op == scim.PatchOperationRemove
	str, _ := v.(string)
	switch strings.ToLower(p.AttributePath.AttributeName) {
	case "username":
		if remove {
			return badRequest(scimerrors.ScimTypeMutability, "userName is required and cannot be removed.")
		}
		in.Username = str
	case "displayname":
		in.DisplayName = str
	case "name":
		sub := strings.ToLower(p.AttributePath.SubAttributeName())
		if m, ok := v.(map[string]any); ok && sub == "" {
			str, _ = m["formatted"].(string)
			sub = "formatted"
		}
		if sub == "formatted" && (remove || str != "") {
			in.DisplayName = str
		}
	case "externalid":
		in.ExternalID = str
	case "active":
		b, ok := v.(bool)
		if remove || !ok {
			return badRequest(scimerrors.ScimTypeInvalidValue, "active must be true or false.")
		}
		in.Active = b
	case "emails":
		switch {
		case remove:
			in.Email = ""
		case p.ValueExpression != nil || p.SubAttributeName() != "" || p.AttributePath.SubAttribute != nil:
			if m, ok := v.(map[string]any); ok {
				str, _ = m["value"].(string)
			}
			in.Email = str
		default:
			in.Email = primaryEmail(v)
		}
	case "groups":
		return badRequest(scimerrors.ScimTypeMutability, "A user's groups are read-only: change the members of the group (/Groups).")
	}
	return nil // another attribute of the core schema: accepted, not kept
}

const schemaUser = "urn:ietf:params:scim:schemas:core:2.0:User"

// update changes a user in one transaction and audits it: a user made
// inactive is disabled, their sessions ended and grants revoked at once.
func (u userHandler) update(r *http.Request, id string, apply func(*models.SCIMUser) error) (scim.Resource, error) {
	before, after, err := u.h.db.UpdateSCIMUser(r.Context(), id, apply)
	if err != nil {
		return scim.Resource{}, u.scimError(err, id)
	}
	changed := models.JSONMap{}
	for k, v := range map[string][2]string{"username": {before.Username, after.Username}, "email": {before.Email, after.Email},
		"display_name": {before.DisplayName, after.DisplayName}, "external_id": {before.ExternalID, after.ExternalID}} {
		if v[0] != v[1] {
			changed[k] = v[1]
		}
	}
	if len(changed) > 0 {
		u.audit(r, models.EventUserUpdated, id, models.JSONMap{"changed": changed})
	}
	switch {
	case after.Disabled && !before.Disabled:
		u.audit(r, models.EventUserDisabled, id, models.JSONMap{"sessions_and_grants": "revoked"})
	case !after.Disabled && before.Disabled:
		u.audit(r, models.EventUserEnabled, id, models.JSONMap{})
	}
	return u.resource(after), nil
}

// Delete serves DELETE /Users/{id}: the user goes with their passkeys,
// sessions and grants (models.DeleteUser).
func (u userHandler) Delete(r *http.Request, id string) error {
	m, err := u.h.db.UserByID(r.Context(), id)
	if err != nil {
		return u.scimError(err, id)
	}
	if err := u.h.db.DeleteUser(r.Context(), id); err != nil {
		return u.scimError(err, id)
	}
	u.audit(r, models.EventUserDeleted, id, models.JSONMap{"username": m.Username})
	return nil
}
