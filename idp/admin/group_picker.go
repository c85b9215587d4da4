package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
)

// GroupSuggestions is how many groups the console's group pickers suggest
// for what an admin typed: the forms never list every group (issue 18).
const GroupSuggestions = 20

// HandleGroupOptions serves GET /admin/groups/options?q=: up to
// GroupSuggestions group names that start with q (case-insensitive), as
// {"groups": [...]}, for the group pickers of the user and application
// forms (admin.js fills their datalist from it).
func (s *Handlers) HandleGroupOptions(c echo.Context) error {
	names, err := s.db.SearchGroupNames(c.Request().Context(), c.QueryParam("q"), GroupSuggestions)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string][]string{"groups": names})
}

// formGroups returns the group names a user or application form submits:
// the ticked checkboxes of the groups it already has ("groups") and the
// names typed into the picker ("add_groups", comma-separated), without
// blanks or repeats.
func formGroups(c echo.Context) []string {
	form, _ := c.FormParams()
	var out []string
	add := func(n string) {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range form["groups"] {
		add(n)
	}
	for _, v := range form["add_groups"] {
		for n := range strings.SplitSeq(v, ",") {
			add(n)
		}
	}
	return out
}

// checkGroupsExist returns a form message naming the first of names that
// no group has, or "" when all exist (or a bad name's message).
func (s *Handlers) checkGroupsExist(ctx context.Context, names []string) (string, error) {
	missing, err := s.db.MissingGroups(ctx, names)
	if msg := userMessage(err); msg != "" {
		return msg, nil
	} else if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return fmt.Sprintf("There is no group named %q; create it on the Groups page first.", missing[0]), nil
	}
	return "", nil
}

// checkAddedGroups checks the groups an application form adds to the ones
// the application had (prev): they must exist. Names it kept are not
// checked again, so a form still saves when one of its groups was
// deleted since.
func (s *Handlers) checkAddedGroups(ctx context.Context, prev, names []string) (string, error) {
	var added []string
	for _, n := range names {
		if !slices.Contains(prev, n) {
			added = append(added, n)
		}
	}
	if len(added) == 0 {
		return "", nil
	}
	return s.checkGroupsExist(ctx, added)
}

// clientFormErrorOr shows the application form again with msg, or returns
// err when checking failed.
func (s *Handlers) clientFormErrorOr(c echo.Context, cl *models.Client, isNew bool, msg string, err error) error {
	if err != nil {
		return err
	}
	return s.clientFormError(c, cl, isNew, msg)
}
