package signin

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// CheckClientGroups refuses a sign-in to an application restricted to some
// groups when the user is in none of them.
func (s *Handlers) CheckClientGroups(c echo.Context, clientID, userID string) error {
	ctx := c.Request().Context()
	cl, err := s.db.ClientByID(ctx, clientID)
	if err != nil || len(cl.AllowedGroups) == 0 {
		return err
	}
	u, err := s.db.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	for _, g := range u.GroupNames() {
		if cl.AllowedGroups.Contains(g) {
			return nil
		}
	}
	s.audit(c, &models.AuditEvent{Type: models.EventSignInFailed, Success: false, UserID: userID, ClientID: clientID,
		Detail: models.JSONMap{"reason": "not in an allowed group"}})
	return &web.Error{Status: http.StatusForbidden, Message: "Your account may not sign in to " + cl.Name + ".",
		Hint: "This application is limited to some groups. Ask your administrator for access."}
}
