package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/internal/i18n"
)

// DecodeJSON reads a small JSON body strictly: JSON content type, one
// object, no trailing data.
func DecodeJSON(c echo.Context, v any) error {
	r := c.Request()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
		return NewError(http.StatusUnsupportedMediaType, i18n.Key("err.json_type"), nil)
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), r.Body, 128<<10))
	if err := dec.Decode(v); err != nil {
		return NewError(http.StatusBadRequest, i18n.Key("err.json_invalid"), err)
	}
	if dec.More() {
		return NewError(http.StatusBadRequest, i18n.Key("err.json_single"), nil)
	}
	return nil
}

// CeremonyBegin answers a passkey ceremony's begin request.
type CeremonyBegin struct {
	CeremonyID string          `json:"ceremonyID"`
	Options    json.RawMessage `json:"options"`
}

// JSONErrorsUnder marks every request whose path starts with prefix for
// JSON errors, before routing: an unknown path (404), a wrong method (405)
// or a body over the limit (413) under an API prefix gets the API's JSON
// error shape too, not an HTML page. Register it with echo's Pre.
func JSONErrorsUnder(prefix string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if strings.HasPrefix(c.Request().URL.Path, prefix) {
				MarkJSONErrors(c)
			}
			return next(c)
		}
	}
}
