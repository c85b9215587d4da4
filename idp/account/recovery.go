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
)

// Recovery is self-service recovery by email (wired in idp).
type Recovery struct {
	// Enabled reports whether recovery by email is on (--recovery=email
	// and an SMTP server).
	Enabled bool
	// CodesEnabled reports whether recovery codes may be used
	// (--recovery is not off).
	CodesEnabled bool
	// Expires is how long a recovery link works, for the page.
	Expires time.Duration
	// Request sends a one-time link to add a passkey to every enabled
	// account with this address. It answers the same whether or not one
	// exists; only a malformed address is an error (mail.ErrInvalid).
	// lang is the page's language, for a recipient who chose none.
	Request func(ctx context.Context, email, clientIP, lang string) error
}

type recoverPage struct {
	web.Base
	Enabled, Sent bool
	Email, Error  string
	Expires       time.Duration
	// The recovery code form (recoverycodes.go).
	CodesEnabled   bool
	Who, CodeError string
}

// HandleRecoverShow serves GET /recover: the "Lost your passkey?" form.
func (s *Handlers) HandleRecoverShow(c echo.Context) error {
	return s.Render(c, http.StatusOK, "recover", &recoverPage{Enabled: s.recovery.Enabled, CodesEnabled: s.recovery.CodesEnabled,
		Expires: s.recovery.Expires})
}

// HandleRecoverSend serves POST /recover. Whether an account uses the
// address never shows: the answer is the same page either way (no account
// enumeration); a malformed address is a 400 with the form again.
func (s *Handlers) HandleRecoverSend(c echo.Context) error {
	p := &recoverPage{Enabled: s.recovery.Enabled, CodesEnabled: s.recovery.CodesEnabled, Expires: s.recovery.Expires,
		Email: strings.TrimSpace(c.FormValue("email"))}
	if !p.Enabled {
		return s.Render(c, http.StatusForbidden, "recover", p)
	}
	err := s.recovery.Request(c.Request().Context(), p.Email, c.RealIP(), s.Pages.Tr(c).Lang())
	if errors.Is(err, mail.ErrInvalid) {
		p.Error = i18n.Key("err.not_an_email")
		return s.Render(c, http.StatusBadRequest, "recover", p)
	}
	if err != nil {
		return err
	}
	p.Sent = true
	return s.Render(c, http.StatusOK, "recover", p)
}
