package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/latchkey-idp/latchkey/internal/i18n"
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
	// Args is the data of Message when it is a message ID (key/value
	// pairs; LocalArgs says times and the like in the page's language).
	Args []any
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
	status, msg, hint := http.StatusInternalServerError, i18n.Key("err.internal"), ""
	title := ""
	var ae *Error
	var he *echo.HTTPError
	var args []any
	switch {
	case errors.As(err, &ae):
		status, msg, hint, title, args = ae.Status, ae.Message, ae.Hint, ae.Title, ae.Args
	case errors.As(err, &he):
		status = he.Code
		switch status {
		case http.StatusNotFound:
			msg = i18n.Key("err.not_found")
		case http.StatusMethodNotAllowed:
			msg = i18n.Key("err.method")
		case http.StatusRequestEntityTooLarge:
			msg = i18n.Key("err.too_large")
		case http.StatusForbidden:
			msg = i18n.Key("err.csrf")
		case http.StatusBadRequest:
			msg = i18n.Key("err.bad_request")
		default:
			if status < 500 {
				msg = http.StatusText(status)
			}
		}
	}
	if ae == nil && he == nil && models.Unavailable(err) {
		// The database is unreachable: a temporary failure on our side,
		// not the user's or the client's (RFC 9110 §15.6.4, §10.2.3).
		status, title = http.StatusServiceUnavailable, i18n.Key("err.unavailable_title")
		msg, hint = i18n.Key("err.unavailable"), i18n.Key("err.unavailable_hint")
		c.Response().Header().Set("Retry-After", RetryAfter)
	}
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if status >= 500 {
		log.Error("request failed", "request_id", rid, "route", c.Path(), "err", err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	// Messages may be IDs of the catalogue: SCIM clients read English,
	// pages and the JSON of their scripts the page's language.
	if writeSCIMError(c, status, message(i18n.For(i18n.Default), msg, args)) { // scim_errors.go
		return
	}
	if isJSON, _ := c.Get(jsonErrorsKey).(bool); isJSON {
		_ = c.JSON(status, map[string]string{"error": message(pages.Tr(c), msg, args), "request_id": rid})
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if title == "" {
		title = statusTitle(status)
	}
	_ = pages.Render(c, status, "message", &MessagePage{Title: title, Message: message(pages.Tr(c), msg, args), Hint: hint, IsError: true, RequestID: rid})
}

// message says msg (a message ID with args, an ID, or text) in t's
// language.
func message(t *i18n.Tr, msg string, args []any) string {
	if len(args) > 0 {
		return t.S(msg, LocalArgs(t, args)...)
	}
	return t.Msg(msg)
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
		msg, ok := goneMessages[what]
		if !ok {
			msg = "This " + what + " does not exist (any more)."
		}
		return NewError(http.StatusNotFound, msg, err)
	}
	return err
}

// statusTitles are the translated headings of error pages by status.
var statusTitles = map[int]string{
	http.StatusBadRequest:            i18n.Key("status.400"),
	http.StatusUnauthorized:          i18n.Key("status.401"),
	http.StatusForbidden:             i18n.Key("status.403"),
	http.StatusNotFound:              i18n.Key("status.404"),
	http.StatusMethodNotAllowed:      i18n.Key("status.405"),
	http.StatusConflict:              i18n.Key("status.409"),
	http.StatusGone:                  i18n.Key("status.410"),
	http.StatusRequestEntityTooLarge: i18n.Key("status.413"),
	http.StatusTooManyRequests:       i18n.Key("status.429"),
	http.StatusInternalServerError:   i18n.Key("status.500"),
	http.StatusServiceUnavailable:    i18n.Key("status.503"),
}

// statusTitle is the heading of an error page without its own.
func statusTitle(status int) string {
	if t, ok := statusTitles[status]; ok {
		return t
	}
	return http.StatusText(status)
}

// goneMessages are NotFound's messages by what is gone.
var goneMessages = map[string]string{
	"application":     i18n.Key("err.gone.application"),
	"blocked passkey": i18n.Key("err.gone.blocked_passkey"),
	"group":           i18n.Key("err.gone.group"),
	"passkey":         i18n.Key("err.gone.passkey"),
	"session":         i18n.Key("err.gone.session"),
	"user":            i18n.Key("err.gone.user"),
}
