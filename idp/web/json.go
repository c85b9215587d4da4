package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// DecodeJSON reads a small JSON body strictly: JSON content type, one
// object, no trailing data.
func DecodeJSON(c echo.Context, v any) error {
	r := c.Request()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
		return NewError(http.StatusUnsupportedMediaType, "Send this request as application/json.", nil)
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), r.Body, 128<<10))
	if err := dec.Decode(v); err != nil {
		return NewError(http.StatusBadRequest, "The request body is not valid JSON.", err)
	}
	if dec.More() {
		return NewError(http.StatusBadRequest, "The request body must hold a single JSON object.", nil)
	}
	return nil
}

// CeremonyBegin answers a passkey ceremony's begin request.
type CeremonyBegin struct {
	CeremonyID string          `json:"ceremonyID"`
	Options    json.RawMessage `json:"options"`
}
