package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
)

// Languages (issue 23): every public and account page is shown in one of
// the shipped languages (internal/i18n), chosen in this order:
//
//  1. the signed-in user's saved preference (users.locale, set with the
//     switcher or on the account page);
//  2. the language this browser picked with the switcher (a cookie; the
//     visitor's explicit choice);
//  3. the ui_locales of the auth request the page belongs to (OIDC Core
//     §3.1.2.1), which the sign-in and consent handlers pass on
//     (SetUILocales);
//  4. Accept-Language (RFC 9110 §12.5.4);
//  5. English.
//
// The console on the internal listener stays English (ConsoleEnglish).

const (
	langKey      = "latchkey.lang"
	uiLocalesKey = "latchkey.ui_locales"
	englishKey   = "latchkey.english"
	// langCookieAge is how long the switcher's choice is remembered.
	langCookieAge = 365 * 24 * time.Hour
)

// Languages chooses the language of each page.
type Languages struct {
	Sessions *Sessions
}

// CookieName is the switcher's cookie; over https it carries the __Host-
// prefix like the session cookie.
func (l *Languages) CookieName() string {
	if l != nil && l.Sessions != nil && l.Sessions.Secure {
		return "__Host-latchkey_lang"
	}
	return "latchkey_lang"
}

// ConsoleEnglish keeps every page of a listener in English (the console).
func ConsoleEnglish(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(englishKey, true)
		return next(c)
	}
}

// SetUILocales hands a page the ui_locales of its auth request.
func SetUILocales(c echo.Context, uiLocales string) { c.Set(uiLocalesKey, uiLocales) }

// Tr returns the translator of the request's language, chosen once per
// request.
func (p *Pages) Tr(c echo.Context) *i18n.Tr {
	if t, ok := c.Get(langKey).(*i18n.Tr); ok {
		return t
	}
	t := i18n.For(p.Languages.choose(c))
	c.Set(langKey, t)
	return t
}

// switchable reports whether the page shows the language switcher.
func switchable(c echo.Context) bool {
	english, _ := c.Get(englishKey).(bool)
	return !english
}

// choose picks the language of the request (the order above). A database
// that cannot be read only skips the saved preference: an error page must
// still render.
func (l *Languages) choose(c echo.Context) string {
	if english, _ := c.Get(englishKey).(bool); english {
		return i18n.Default
	}
	if l != nil && l.Sessions != nil {
		if sess, err := l.Sessions.Current(c); err == nil && sess != nil {
			if loc, err := l.Sessions.DB.UserLocale(c.Request().Context(), sess.UserID); err == nil && i18n.Supported(loc) {
				return loc
			}
		}
	}
	if ck, err := c.Cookie(l.CookieName()); err == nil && i18n.Supported(ck.Value) {
		return ck.Value
	}
	if ui, _ := c.Get(uiLocalesKey).(string); ui != "" {
		if tag, ok := i18n.MatchUILocales(ui); ok {
			return tag
		}
	}
	if tag, ok := i18n.MatchAcceptLanguage(c.Request().Header.Get("Accept-Language")); ok {
		return tag
	}
	return i18n.Default
}

// Switcher is the language switcher of a page: a form that posts the
// chosen language (with the CSRF token) and the page to return to.
type Switcher struct {
	Next      string
	Languages []i18n.Language
}

// localPath reports whether next is a path on this origin to send the
// browser back to: "/…" but not "//host" or "/\host", which browsers read
// as another origin (an open redirect otherwise).
func localPath(next string) bool {
	if next == "" || next[0] != '/' || len(next) > 2048 {
		return false
	}
	if strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return false
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// HandleSet serves POST /language, the switcher: it remembers the choice
// in a cookie, saves it as the signed-in user's preference, and sends the
// browser back to the page. An unknown language or a target off this
// origin is a 400 and changes nothing.
func (l *Languages) HandleSet(c echo.Context) error {
	tag, next := c.FormValue("lang"), c.FormValue("next")
	if !i18n.Supported(tag) {
		return NewError(http.StatusBadRequest, i18n.Key("err.language_unknown"), nil)
	}
	if next == "" {
		next = "/"
	}
	if !localPath(next) {
		return NewError(http.StatusBadRequest, i18n.Key("err.language_next"), nil)
	}
	sess, err := l.Sessions.Current(c)
	if err != nil {
		return err
	}
	if sess != nil {
		if err := l.Sessions.DB.SetUserLocale(c.Request().Context(), sess.UserID, tag); err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
	}
	c.SetCookie(&http.Cookie{ //nolint:gosec // G124: HttpOnly and SameSite are set; Secure follows the issuer's scheme like the session cookie
		Name: l.CookieName(), Value: tag, Path: "/", MaxAge: int(langCookieAge.Seconds()),
		HttpOnly: true, Secure: l.Sessions.Secure, SameSite: http.SameSiteLaxMode,
	})
	return c.Redirect(http.StatusSeeOther, next)
}
