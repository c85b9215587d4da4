package web

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

const scimErrorsKey = "latchkey.scim_errors"

// SCIMErrorsUnder marks every request whose path starts with prefix for
// SCIM errors (RFC 7644 §3.12) before routing, so that what fails before
// the SCIM handler (an unknown path, a body over the server's limit, a
// rate limit, an unreachable database) answers in the shape a SCIM client
// reads. Register it with echo's Pre.
func SCIMErrorsUnder(prefix string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if strings.HasPrefix(c.Request().URL.Path, prefix) {
				c.Set(scimErrorsKey, true)
			}
			return next(c)
		}
	}
}

// writeSCIMError answers with a SCIM error if the request is marked.
func writeSCIMError(c echo.Context, status int, msg string) bool {
	if on, _ := c.Get(scimErrorsKey).(bool); !on {
		return false
	}
	b, _ := json.Marshal(map[string]any{ // strings only: it cannot fail
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  strconv.Itoa(status), "detail": msg,
	})
	_ = c.Blob(status, "application/scim+json", b)
	return true
}
