package idp

import (
	"bytes"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
)

// handleAuthorize serves the authorization endpoint. op validates the
// request, stores it and sends the browser to the sign-in page of the new
// request (its login URL, /login?authRequestID=…). That redirect is not
// sent: the sign-in page — or, with a session that may be reused, the
// redirect back to the client — is the answer of /authorize itself, as
// Keycloak's authorization endpoint does. A sign-in saves a round trip,
// and neither the request nor its client row is read back: both come
// from the request's memo (models.CreatedAuthRequest, ClientByID). Every
// other answer of op (an error page, an error sent to the client's
// redirect URI, form_post) goes out exactly as op wrote it.
//
// The page has the CSRF protection and the content security policy of
// /login, whose handler it shares; a reload re-runs /authorize and gets
// a new request, which is what a reload of Keycloak's page does too.
func (s *Server) handleAuthorize(csrf echo.MiddlewareFunc) echo.HandlerFunc {
	op := s.op.Handler()
	page := csrf(func(c echo.Context) error {
		c.Response().Header().Set("Content-Security-Policy", contentSecurityPolicy)
		id := c.Get(inlineLoginKey).(string)
		return s.loginPage(c, id, models.CreatedAuthRequest(c.Request().Context(), id))
	})
	return func(c echo.Context) error {
		rec := &opAnswer{header: http.Header{}}
		op.ServeHTTP(rec, c.Request())
		if id, ok := s.loginRedirect(rec); ok {
			c.Set(inlineLoginKey, id)
			return page(c)
		}
		h := c.Response().Header()
		for k, v := range rec.header {
			h[k] = v
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		c.Response().WriteHeader(rec.status)
		_, err := c.Response().Write(rec.body.Bytes())
		return err
	}
}

const inlineLoginKey = "latchkey.inlineLogin"

// loginRedirect reports whether op answered with a redirect to the login
// URL (oidc clientAdapter.LoginURL) and returns the request's ID.
func (s *Server) loginRedirect(a *opAnswer) (string, bool) {
	if a.status != http.StatusFound {
		return "", false
	}
	u, err := url.Parse(a.header.Get("Location"))
	if err != nil || u.IsAbs() || u.Host != "" || u.Path != s.cfg.OIDC.LoginPath {
		return "", false
	}
	q := u.Query()
	id := q.Get("authRequestID")
	if id == "" || len(q) != 1 {
		return "", false
	}
	return id, true
}

// opAnswer holds op's answer to /authorize until handleAuthorize has
// decided what to send. Its answers are short pages and redirects.
type opAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *opAnswer) Header() http.Header { return a.header }

func (a *opAnswer) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}

func (a *opAnswer) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.body.Write(p)
}
