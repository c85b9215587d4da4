package account

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// The account page (public listener) lets a signed-in user look after
// their own passkeys, sessions and connected applications. It uses the
// browser session cookie; without one it offers a passkey sign-in that is
// not tied to an OIDC auth request.

type accountPage struct {
	web.Base
	User     *models.User
	Passkeys []web.PasskeyRow
	Sessions []sessionRow
	Apps     []web.AppRow
	Consents []models.ConsentInfo // consents the user gave (signin)
	Launcher []models.LauncherApp // applications the user may open (profile.go)
	SignIns  []signInRow          // recent sign-ins (profile.go)
	// EmailChange says whether the page offers an email change (the
	// server sends mail); EmailExpires is how long its link works.
	EmailChange  bool
	EmailExpires time.Duration
	PendingEmail string // the address a link was sent to, not yet confirmed
	Notice       string
	Error        string
	RPID         string
	UserIDb64    string
	Accepted     string // comma-separated credential IDs (base64url) for signalAllAcceptedCredentials
	Removed      string // a just-removed credential ID for signalUnknownCredential
	// Recovery codes (recoverycodes.go): offered when recovery is allowed.
	CodesAllowed bool
	CodesLeft    int
}

type sessionRow struct {
	models.Session
	Current                    bool
	Started, LastSeen, Browser string
}

var accountNotices = map[string]string{
	"passkey-added": i18n.Key("notice.passkey_added"), "passkey-renamed": i18n.Key("notice.passkey_renamed"),
	"passkey-deleted": i18n.Key("notice.passkey_deleted"), "session-ended": i18n.Key("notice.session_ended"),
	"app-revoked": i18n.Key("notice.app_revoked"), "name-saved": i18n.Key("notice.name_saved"),
	"email-sent": i18n.Key("notice.email_sent"),
}

// accountSession returns the current browser session and its user, or nil.
func (s *Handlers) accountSession(c echo.Context) (*models.Session, *models.User, error) {
	sess, err := s.sessions.Current(c)
	if err != nil || sess == nil {
		return nil, nil, err
	}
	u, err := s.db.UserByID(c.Request().Context(), sess.UserID)
	if err != nil {
		return nil, nil, err
	}
	return sess, u, nil
}

// RequireAccount runs next with a session, or refuses (JSON routes) or
// sends the browser to the account page (forms).
func (s *Handlers) RequireAccount(next func(echo.Context, *models.Session, *models.User) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, u, err := s.accountSession(c)
		if err != nil {
			return err
		}
		if sess == nil {
			return &web.Error{Status: http.StatusUnauthorized, Message: i18n.Key("err.not_signed_in"),
				Hint: i18n.Key("err.not_signed_in_hint")}
		}
		return next(c, sess, u)
	}
}

// HandleAccountShow serves GET /account.
func (s *Handlers) HandleAccountShow(c echo.Context) error {
	sess, u, err := s.accountSession(c)
	if err != nil {
		return err
	}
	if sess == nil {
		// Deleting the passkey this session signed in with ends the
		// session; the sign-in page still tells the browser it is gone.
		policy, err := s.signup.Policy(c.Request().Context())
		if err != nil {
			return err
		}
		p := &accountSigninPage{Base: web.Base{Scripts: []string{"webauthn.js", "login.js", "account.js"}},
			RPID: s.cfg.RPID, Removed: s.removedCredential(c), Signup: policy == "invite" || policy == "open"}
		if p.Removed != "" {
			p.Notice = i18n.Key("notice.passkey_deleted_signed_out")
		}
		return s.Render(c, http.StatusOK, "account_signin", p)
	}
	return s.renderAccount(c, http.StatusOK, sess, u, "")
}

func (s *Handlers) renderAccount(c echo.Context, status int, sess *models.Session, u *models.User, errMsg string) error {
	ctx := c.Request().Context()
	creds, err := s.db.CredentialsByUser(ctx, u.ID)
	if err != nil {
		return err
	}
	p := &accountPage{Base: web.Base{Scripts: []string{"webauthn.js", "account.js"}}, User: u, Passkeys: s.withPolicy(ctx, u.ID, web.PasskeyRows(creds)),
		Notice: accountNotices[c.QueryParam("done")], Error: errMsg, RPID: s.cfg.RPID, UserIDb64: b64url(u.WebAuthnID)}
	ids := make([]string, len(creds))
	for i, cr := range creds {
		ids[i] = b64url(cr.CredentialID)
	}
	p.Accepted = strings.Join(ids, ",")
	p.Removed = s.removedCredential(c)
	ss, err := s.db.SessionsByUser(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, x := range ss {
		p.Sessions = append(p.Sessions, sessionRow{Session: x, Current: x.ID == sess.ID, Started: web.FormatTime(x.AuthTime),
			LastSeen: web.FormatTime(x.LastSeenAt), Browser: browserName(s.Pages.Tr(c), x.UserAgent)})
	}
	apps, err := s.db.ConnectedApps(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, a := range apps {
		p.Apps = append(p.Apps, web.AppRow{ConnectedApp: a, LastUsedText: web.FormatTime(a.LastUsed)})
	}
	if p.Consents, err = s.db.ConsentsByUser(ctx, u.ID); err != nil {
		return err
	}
	withGroups, err := s.db.LiveUser(ctx, u.ID, "", true)
	if err != nil {
		return err
	}
	if p.Launcher, err = s.db.LauncherApps(ctx, withGroups.GroupNames()); err != nil {
		return err
	}
	if p.SignIns, err = s.recentSignInRows(ctx, s.Pages.Tr(c), u.ID, creds); err != nil {
		return err
	}
	p.EmailChange, p.EmailExpires = s.profile.Sends, s.profile.Expires
	if p.PendingEmail, err = s.db.PendingEmailOf(ctx, u.ID); err != nil {
		return err
	}
	if s.codes.Allowed != nil {
		if p.CodesAllowed, err = s.codes.Allowed(ctx, u); err != nil {
			return err
		}
		left, err := s.codes.Left(ctx, u.ID)
		if err != nil {
			return err
		}
		p.CodesLeft = int(left)
	}
	return s.Render(c, status, "account", p)
}

// accountSigninPage is the account page's passkey sign-in: the fields of
// the sign-in page (login.html's partials), not tied to an auth request.
type accountSigninPage struct {
	web.Base
	AuthRequestID, ClientName, Begin string
	Notice, RPID, Removed            string
	Signup                           bool // "Create an account" (signup.go)
}

// removedCredential returns ?removed= (a just-deleted credential ID, for
// signalUnknownCredential) only when no account has that credential: the
// URL is not trusted, and a forged link must not make a password manager
// drop a passkey that still works.
func (s *Handlers) removedCredential(c echo.Context) string {
	r := c.QueryParam("removed")
	if r == "" || len(r) > 1400 {
		return ""
	}
	id, err := base64.RawURLEncoding.DecodeString(r)
	if err != nil || len(id) == 0 {
		return ""
	}
	if _, err := s.db.CredentialByCredentialID(c.Request().Context(), id); !errors.Is(err, models.ErrNotFound) {
		return "" // still registered (or the lookup failed): do not signal
	}
	return r
}

// browserName gives a short, human name for a user agent string, in t's
// language.
func browserName(t *i18n.Tr, ua string) string {
	for _, b := range []string{"Edg/", "Firefox/", "Chrome/", "Safari/"} {
		if strings.Contains(ua, b) {
			name := strings.TrimSuffix(b, "/")
			if name == "Edg" {
				name = "Edge"
			}
			for _, os := range []string{"Windows", "Mac OS X", "Android", "iPhone", "Linux"} {
				if strings.Contains(ua, os) {
					return t.S("browser.on", "Browser", name, "OS", strings.TrimSuffix(os, " OS X"))
				}
			}
			return name
		}
	}
	if ua == "" {
		return t.S("browser.unknown")
	}
	return web.Truncate(ua, 40)
}

// HandleAccountLoginFinish serves POST /account/login/finish.
func (s *Handlers) HandleAccountLoginFinish(c echo.Context) error {
	var req struct {
		CeremonyID string          `json:"ceremonyID"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := web.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.signIn.SessionSignIn(c, req.CeremonyID, req.Credential, "account"); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": "/account"})
}

// requireFreshSignIn refuses adding a passkey on a session whose passkey
// ceremony is older than web.FreshSignIn: a stolen session cookie must not
// be enough to plant a permanent credential. The page then confirms with an
// existing passkey (/account/login/*) and retries.
func (s *Handlers) requireFreshSignIn(sess *models.Session) error {
	if s.cfg.Now().Sub(sess.AuthTime) > web.FreshSignIn {
		return web.NewError(http.StatusUnauthorized, i18n.Key("err.reauth_to_add"), nil)
	}
	return nil
}

// HandleAccountPasskeyBegin serves POST /account/passkeys/begin.
func (s *Handlers) HandleAccountPasskeyBegin(c echo.Context, sess *models.Session, u *models.User) error {
	if err := s.requireFreshSignIn(sess); err != nil {
		return err
	}
	id, opts, err := s.passkeys.BeginRegistration(c.Request().Context(), u, "")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, web.CeremonyBegin{CeremonyID: id, Options: opts})
}

// HandleAccountPasskeyFinish serves POST /account/passkeys/finish.
func (s *Handlers) HandleAccountPasskeyFinish(c echo.Context, sess *models.Session, u *models.User) error {
	if err := s.requireFreshSignIn(sess); err != nil {
		return err
	}
	var req struct {
		CeremonyID string          `json:"ceremonyID"`
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := web.DecodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Name) > 64 {
		return web.NewError(http.StatusBadRequest, i18n.Key("err.passkey_name_long"), nil)
	}
	cred, err := s.passkeys.FinishRegistrationBound(c.Request().Context(), req.CeremonyID,
		passkeys.RegistrationBinding{UserID: u.ID}, req.Credential, req.Name)
	if err != nil {
		return s.signIn.PasskeyFailure(c, "", err)
	}
	if cred.UserID != u.ID {
		// The ceremony belonged to another account (another browser tab
		// signed in as someone else meanwhile).
		return web.NewError(http.StatusConflict, i18n.Key("err.ceremony_other_account"), nil)
	}
	s.Audit(c, &models.AuditEvent{Type: models.EventPasskeyAdded, Success: true, UserID: u.ID, ActorID: u.ID,
		Detail: models.JSONMap{"credential": cred.ID, "name": cred.Name, "via": "account"}})
	return c.JSON(http.StatusOK, map[string]string{"redirect": "/account?done=passkey-added"})
}

// HandleAccountPasskeyRename serves POST /account/passkeys/:id/rename.
func (s *Handlers) HandleAccountPasskeyRename(c echo.Context, sess *models.Session, u *models.User) error {
	name := strings.TrimSpace(c.FormValue("name"))
	if name == "" || len(name) > 64 || strings.IndexFunc(name, unicode.IsControl) >= 0 || !utf8.ValidString(name) {
		return s.renderAccount(c, http.StatusBadRequest, sess, u, i18n.Key("err.passkey_name_bad"))
	}
	if err := s.db.RenameCredential(c.Request().Context(), u.ID, c.Param("id"), name); err != nil {
		return web.NotFound("passkey", err)
	}
	s.Audit(c, &models.AuditEvent{Type: models.EventPasskeyRenamed, Success: true, UserID: u.ID, ActorID: u.ID,
		Detail: models.JSONMap{"credential": c.Param("id"), "name": name}})
	return c.Redirect(http.StatusSeeOther, "/account?done=passkey-renamed")
}

// HandleAccountPasskeyDelete serves POST /account/passkeys/:id/delete.
func (s *Handlers) HandleAccountPasskeyDelete(c echo.Context, sess *models.Session, u *models.User) error {
	ctx := c.Request().Context()
	creds, err := s.db.CredentialsByUser(ctx, u.ID)
	if err != nil {
		return err
	}
	var victim *models.Credential
	for i := range creds {
		if creds[i].ID == c.Param("id") {
			victim = &creds[i]
		}
	}
	if victim == nil {
		return web.NotFound("passkey", models.ErrNotFound)
	}
	if len(creds) == 1 {
		return s.renderAccount(c, http.StatusConflict, sess, u,
			i18n.Key("err.only_passkey"))
	}
	if err := s.db.DeleteCredential(ctx, u.ID, victim.ID); err != nil {
		return web.NotFound("passkey", err)
	}
	s.Audit(c, &models.AuditEvent{Type: models.EventPasskeyRemoved, Success: true, UserID: u.ID, ActorID: u.ID,
		Detail: models.JSONMap{"credential": victim.ID, "via": "account"}})
	// Deleting the passkey this session signed in with ends the session
	// (models.DeleteCredential); the page then offers sign-in again.
	return c.Redirect(http.StatusSeeOther, "/account?done=passkey-deleted&removed="+b64url(victim.CredentialID))
}

// HandleAccountSessionEnd serves POST /account/sessions/:id/end.
func (s *Handlers) HandleAccountSessionEnd(c echo.Context, sess *models.Session, u *models.User) error {
	ctx := c.Request().Context()
	if c.Param("id") == "all" {
		if err := s.db.EndUserSessions(ctx, u.ID); err != nil {
			return err
		}
		s.Audit(c, &models.AuditEvent{Type: models.EventSignOut, Success: true, UserID: u.ID, ActorID: u.ID, Detail: models.JSONMap{"session": "all"}})
		s.sessions.ClearCookie(c.Response())
		return c.Redirect(http.StatusSeeOther, "/account")
	}
	target, err := s.db.SessionByID(ctx, c.Param("id"))
	if err != nil || target.UserID != u.ID {
		return web.NotFound("session", models.ErrNotFound)
	}
	if err := s.db.EndSession(ctx, target.ID); err != nil {
		return err
	}
	s.Audit(c, &models.AuditEvent{Type: models.EventSessionEnded, Success: true, UserID: u.ID, ActorID: u.ID, Detail: models.JSONMap{"session": target.ID}})
	if target.ID == sess.ID {
		s.sessions.ClearCookie(c.Response())
		return c.Redirect(http.StatusSeeOther, "/account")
	}
	return c.Redirect(http.StatusSeeOther, "/account?done=session-ended")
}

// HandleAccountAppRevoke serves POST /account/apps/:id/revoke.
func (s *Handlers) HandleAccountAppRevoke(c echo.Context, _ *models.Session, u *models.User) error {
	ctx := c.Request().Context()
	cl, err := s.db.ClientByID(ctx, c.Param("id"))
	if err != nil {
		return web.NotFound("application", err)
	}
	if err := s.db.RevokeClientTokensForUser(ctx, u.ID, cl.ID); err != nil {
		return err
	}
	if err := s.signIn.RevokeConsent(c, u.ID, cl.ID); err != nil { // revoking access withdraws consent too
		return err
	}
	s.Audit(c, &models.AuditEvent{Type: models.EventAppTokensRevoked, Success: true, UserID: u.ID, ActorID: u.ID, ClientID: cl.ID})
	return c.Redirect(http.StatusSeeOther, "/account?done=app-revoked")
}
