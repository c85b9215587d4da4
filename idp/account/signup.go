package account

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/mail"
	"github.com/latchkey-idp/latchkey/models"
)

// Errors of a sign-up request the page explains.
var (
	ErrSignupClosed = errors.New("sign-up is closed")
	ErrSignupDomain = errors.New("this email domain may not sign up")
	ErrSignupName   = errors.New("the name is too long or has control characters")
)

// SignupRequest is what the sign-up page sends.
type SignupRequest struct {
	Email, Name string
	Link        string // the sign-up link's token (invite policy)
	ClientIP    string
	Lang        string // the page's language, for the message
}

// Signup is self-service sign-up (wired in idp).
type Signup struct {
	// Policy returns the policy in force: "closed", "invite" or "open".
	Policy func(ctx context.Context) (string, error)
	// Expires is how long a verification link works, for the page.
	Expires time.Duration
	// Request creates the account and emails its verification link, or
	// notifies the owner of a taken address; the answer is the same.
	Request func(ctx context.Context, r SignupRequest) error
	// CheckLink reports whether a sign-up link works: nil, or
	// models.ErrNotFound, ErrExpired, ErrUsedUp.
	CheckLink func(ctx context.Context, raw string) error
}

type signupPage struct {
	web.Base
	Policy, Link       string
	Email, Name, Error string
	Sent               bool
	Expires            time.Duration
}

// Open reports whether the page offers a form.
func (p *signupPage) Open() bool {
	return p.Policy == "open" || (p.Policy == "invite" && p.Link != "")
}

// linkError is the error page of a sign-up link that does not work.
func linkError(err error) error {
	switch {
	case errors.Is(err, models.ErrExpired):
		return &web.Error{Status: http.StatusGone, Title: i18n.Key("err.signup_link_expired_title"), Message: i18n.Key("err.signup_link_expired"),
			Hint: i18n.Key("err.signup_link_hint"), Err: err}
	case errors.Is(err, models.ErrUsedUp):
		return &web.Error{Status: http.StatusGone, Title: i18n.Key("err.signup_link_used_up_title"), Message: i18n.Key("err.signup_link_used_up"),
			Hint: i18n.Key("err.signup_link_hint"), Err: err}
	case errors.Is(err, models.ErrNotFound):
		return &web.Error{Status: http.StatusNotFound, Title: i18n.Key("err.signup_link_invalid_title"), Message: i18n.Key("err.signup_link_invalid"),
			Hint: i18n.Key("err.signup_link_hint"), Err: err}
	}
	return err
}

// HandleSignupShow serves GET /signup: the form under the open policy;
// under invite, a note that a sign-up link is needed, and under closed a
// refusal (both 403).
func (s *Handlers) HandleSignupShow(c echo.Context) error {
	policy, err := s.signup.Policy(c.Request().Context())
	if err != nil {
		return err
	}
	p := &signupPage{Policy: policy, Expires: s.signup.Expires}
	status := http.StatusOK
	if policy != "open" {
		status = http.StatusForbidden
	}
	return s.Render(c, status, "signup", p)
}

// HandleSignupLinkShow serves GET /signup/:token, the form of a sign-up
// link (invite policy); a link that does not work gets its error page.
func (s *Handlers) HandleSignupLinkShow(c echo.Context) error {
	policy, err := s.signup.Policy(c.Request().Context())
	if err != nil {
		return err
	}
	if policy != "invite" {
		return s.HandleSignupShow(c)
	}
	if err := s.signup.CheckLink(c.Request().Context(), c.Param("token")); err != nil {
		return linkError(err)
	}
	return s.Render(c, http.StatusOK, "signup", &signupPage{Policy: policy, Link: c.Param("token"), Expires: s.signup.Expires})
}

// HandleSignupSend serves POST /signup and POST /signup/:token. Whether
// the address is taken never shows: the answer is the same page.
func (s *Handlers) HandleSignupSend(c echo.Context) error {
	policy, err := s.signup.Policy(c.Request().Context())
	if err != nil {
		return err
	}
	p := &signupPage{Policy: policy, Link: c.Param("token"), Expires: s.signup.Expires,
		Email: strings.TrimSpace(c.FormValue("email")), Name: strings.TrimSpace(c.FormValue("name"))}
	err = s.signup.Request(c.Request().Context(), SignupRequest{Email: p.Email, Name: p.Name, Link: p.Link,
		ClientIP: c.RealIP(), Lang: s.Pages.Tr(c).Lang()})
	switch {
	case errors.Is(err, ErrSignupClosed):
		p.Policy = "closed"
		return s.Render(c, http.StatusForbidden, "signup", p)
	case errors.Is(err, mail.ErrInvalid):
		p.Error = i18n.Key("err.not_an_email")
	case errors.Is(err, ErrSignupName):
		p.Error = i18n.Key("err.signup_name")
	case errors.Is(err, ErrSignupDomain):
		p.Error = i18n.Key("err.signup_domain")
	case errors.Is(err, models.ErrExpired), errors.Is(err, models.ErrUsedUp), errors.Is(err, models.ErrNotFound):
		return linkError(err)
	case err != nil:
		return err
	default:
		p.Sent = true
		return s.Render(c, http.StatusOK, "signup", p)
	}
	return s.Render(c, http.StatusBadRequest, "signup", p)
}
