package web

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
)

// testEcho is an echo app with the error handler and the pages of this
// package, and one CSRF-protected GET and POST route at /form.
func testEcho(t *testing.T) *echo.Echo {
	t.Helper()
	pages, err := LoadPages([]string{"message"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = ErrorHandler(pages, slog.New(slog.NewTextHandler(io.Discard, nil)))
	csrf := CSRF("latchkey_csrf", false)
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	e.GET("/form", ok, csrf)
	e.POST("/form", ok, csrf)
	e.POST("/api", func(echo.Context) error { return NewError(http.StatusConflict, "taken", nil) }, JSONErrors)
	e.GET("/page", func(echo.Context) error { return NewError(http.StatusConflict, "taken", nil) })
	e.GET("/boom", func(echo.Context) error { return errors.New("secret cause") })
	return e
}
