package idp

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// The sign-in files still in this package use these short names for what
// idp/web provides.

type (
	base        = web.Base
	messagePage = web.MessagePage
	appError    = web.Error
)

var (
	newError      = web.NewError
	jsonErrors    = web.JSONErrors
	noStore       = web.NoStore
	requestMemo   = web.RequestMemo
	opEndpointCSP = web.OpEndpointCSP
)

func (s *Server) render(c echo.Context, status int, name string, data web.PageData) error {
	return s.pages.Render(c, status, name, data)
}

func (s *Server) message(c echo.Context, status int, title, msg, hint string) error {
	return s.pages.Message(c, status, title, msg, hint)
}

func (s *Server) currentSession(c echo.Context) (*models.Session, error) {
	return s.sessions.Current(c)
}

func (s *Server) setSessionCookie(c echo.Context, raw string) { s.sessions.SetCookie(c, raw) }

func (s *Server) audit(c echo.Context, ev *models.AuditEvent) { s.auditor.Audit(c, ev) }

const contentSecurityPolicy = web.ContentSecurityPolicy

func (s *Server) clearSessionCookie(w http.ResponseWriter) { s.sessions.ClearCookie(w) }

func (s *Server) sessionCookie() string { return s.sessions.CookieName() }
