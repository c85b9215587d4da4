package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/latchkey-idp/latchkey/models"
)

// Error is an error with an HTTP status and a message that is safe to
// show to the user. The cause is logged, never shown.
type Error struct {
	Status  int
	Title   string // the page's heading; default the status text
	Message string
	Hint    string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// NewError is an Error without a hint.
func NewError(status int, msg string, cause error) *Error {
	return &Error{Status: status, Message: msg, Err: cause}
}

// RetryAfter is the Retry-After (seconds) of a 503 answered while the
// database is unreachable.
const RetryAfter = "5"

const jsonErrorsKey = "latchkey.json_errors"

// JSONErrors marks a route whose errors are rendered as JSON.
func JSONErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		MarkJSONErrors(c)
		return next(c)
	}
}

// MarkJSONErrors makes the error handler answer this request with JSON.
func MarkJSONErrors(c echo.Context) { c.Set(jsonErrorsKey, true) }

// ErrorHandler is the single error renderer of both listeners: JSON for
// routes marked with JSONErrors, an HTML page otherwise. 5xx causes are
// logged once with the request ID.
func ErrorHandler(pages *Pages, log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) { handleError(pages, log, err, c) }
}

func handleError(pages *Pages, log *slog.Logger, err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg, hint := http.StatusInternalServerError, "Something went wrong on our side. Please try again.", ""
	title := ""
	var ae *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		status, msg, hint, title = ae.Status, ae.Message, ae.Hint, ae.Title
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
	if ae == nil && he == nil && models.Unavailable(err) {
		// The database is unreachable: a temporary failure on our side,
		// not the user's or the client's (RFC 9110 §15.6.4, §10.2.3).
		status, title = http.StatusServiceUnavailable, "Temporarily unavailable"
		msg, hint = "Latchkey cannot reach its database right now.", "Try again in a few seconds."
		c.Response().Header().Set("Retry-After", RetryAfter)
	}
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if status >= 500 {
		log.Error("request failed", "request_id", rid, "route", c.Path(), "err", err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if writeSCIMError(c, status, msg) { // scim_errors.go
		return
	}
	if isJSON, _ := c.Get(jsonErrorsKey).(bool); isJSON {
		_ = c.JSON(status, map[string]string{"error": msg, "request_id": rid})
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if title == "" {
		title = http.StatusText(status)
	}
	_ = pages.Render(c, status, "message", &MessagePage{Title: title, Message: msg, Hint: hint, IsError: true, RequestID: rid})
}

// Truncate cuts s to at most n bytes.
func Truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// NotFound turns models.ErrNotFound into a 404 page naming what is gone;
// other errors pass unchanged.
func NotFound(what string, err error) error {
	if errors.Is(err, models.ErrNotFound) {
		return NewError(http.StatusNotFound, "This "+what+" does not exist (any more).", err)
	}
	return err
}
