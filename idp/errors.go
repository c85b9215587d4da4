package idp

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
)

// appError is an error with an HTTP status and a message that is safe to
// show to the user. The cause is logged, never shown.
type appError struct {
	Status  int
	Message string
	Hint    string
	Err     error
}

func (e *appError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *appError) Unwrap() error { return e.Err }

func newError(status int, msg string, cause error) *appError {
	return &appError{Status: status, Message: msg, Err: cause}
}

const jsonErrorsKey = "latchkey.json_errors"

// jsonErrors marks a route group whose errors are rendered as JSON.
func jsonErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(jsonErrorsKey, true)
		return next(c)
	}
}

// handleError is the single error renderer: JSON for API groups, an HTML
// page otherwise. 5xx causes are logged once with the request ID.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg, hint := http.StatusInternalServerError, "Something went wrong on our side. Please try again.", ""
	var ae *appError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		status, msg, hint = ae.Status, ae.Message, ae.Hint
	case errors.As(err, &he):
		status = he.Code
		switch status {
		case http.StatusNotFound:
			msg = "This page does not exist."
		case http.StatusMethodNotAllowed:
			msg = "This method is not allowed here."
		case http.StatusRequestEntityTooLarge:
			msg = "The request is too large."
		case http.StatusForbidden:
			msg = "This request was refused (missing or invalid CSRF protection). Reload the page and try again."
		case http.StatusBadRequest:
			msg = "The request is malformed."
		default:
			if status < 500 {
				msg = http.StatusText(status)
			}
		}
	}
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if status >= 500 {
		s.cfg.Logger.Error("request failed", "request_id", rid, "route", c.Path(), "err", err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if isJSON, _ := c.Get(jsonErrorsKey).(bool); isJSON {
		_ = c.JSON(status, map[string]string{"error": msg, "request_id": rid})
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = s.render(c, status, "message", &messagePage{Title: http.StatusText(status), Message: msg, Hint: hint, IsError: true, RequestID: rid})
}
