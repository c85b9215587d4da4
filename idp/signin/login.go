package signin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

type loginPage struct {
	web.Base
	AuthRequestID string
	ClientName    string
	// Begin is the JSON of the page's first ceremony, {"ceremonyID": "",
	// "options": …}: the auth request's own challenge (passkeys/bound.go),
	// so the page needs no POST /login/passkey/begin to start.
	Begin string
	// Signup shows "Create an account" (a sign-up policy other than
	// closed).
	Signup bool
}

// pendingAuthRequest loads an auth request that can still be signed in to.
func (s *Handlers) pendingAuthRequest(c echo.Context, id string) (*models.AuthRequest, error) {
	if id == "" {
		return nil, web.NewError(http.StatusBadRequest, i18n.Key("err.signin_incomplete"), nil)
	}
	ar, err := s.db.AuthRequestByID(c.Request().Context(), id)
	switch {
	case errors.Is(err, models.ErrNotFound), errors.Is(err, models.ErrExpired):
		return nil, &web.Error{Status: http.StatusBadRequest, Message: i18n.Key("err.signin_expired"),
			Hint: i18n.Key("err.start_again_hint"), Err: err}
	case err != nil:
		return nil, err
	}
	web.SetUILocales(c, ar.UILocales) // OIDC Core §3.1.2.1
	if ar.Done {
		return nil, web.NewError(http.StatusConflict, i18n.Key("err.signin_done"), nil)
	}
	return ar, nil
}

// needsFreshSignIn reports whether the request forbids reusing a session:
// prompt=login, or max_age exceeded (OIDC Core §3.1.2.1, max_age=0 behaves
// like prompt=login).
//
// prompt=select_account asks the server to let the user pick an account.
// A browser holds one Latchkey session, and the account is whichever
// passkey the user presents, so Latchkey shows the sign-in page: the user
// picks an account by picking a passkey (possibly the same one as before).
// It therefore behaves like prompt=login.
func needsFreshSignIn(ar *models.AuthRequest, sess *models.Session, now time.Time) bool {
	if slices.Contains(ar.Prompt, "login") || slices.Contains(ar.Prompt, "select_account") {
		return true
	}
	if ar.MaxAge != nil && now.Sub(sess.AuthTime) > time.Duration(*ar.MaxAge)*time.Second {
		return true
	}
	return ar.MaxAge != nil && *ar.MaxAge == 0
}

// HandleLoginShow serves GET /login?authRequestID=…, the sign-in page of
// a pending auth request (op's login URL, where op's /authorize sends
// the browser): it completes the request with the browser's session when
// that session may be reused, and shows the sign-in page otherwise.
func (s *Handlers) HandleLoginShow(c echo.Context) error {
	ctx := c.Request().Context()
	ar, err := s.pendingAuthRequest(c, c.QueryParam("authRequestID"))
	if err != nil {
		return err
	}
	sess, err := s.sessions.Current(c)
	if err != nil {
		return err
	}
	if sess != nil && ar.LoginHint != "" {
		ok, err := s.loginHintMatches(c, ar.LoginHint, sess.UserID)
		if err != nil {
			return err
		}
		if !ok {
			sess = nil // another account was asked for: no silent reuse
		}
	}
	if sess != nil && !needsFreshSignIn(ar, sess, s.cfg.Now()) && acrSatisfied(sess.ACR, ar.ACRValues) && !s.sessionPasskeyRefused(ctx, sess) {
		out, err := s.svc.ContinueSession(ctx, ar, sess, c.RealIP())
		if err != nil {
			return err
		}
		if out.ConsentRequired {
			return s.failConsentRequired(c, ar.ID)
		}
		_ = s.db.TouchSession(ctx, sess.ID) // last-seen is informational
		return c.Redirect(http.StatusFound, out.Next)
	}
	if slices.Contains(ar.Prompt, "none") {
		// OIDC Core §3.1.2.6: no UI may be shown; tell the client.
		return s.failAuthRequest(c, ar.ID, oidc.LoginRequired, "the user is not signed in")
	}
	client, err := s.db.ClientByID(ctx, ar.ClientID)
	if err != nil {
		return err
	}
	begin, err := s.boundBegin(ctx, ar)
	if err != nil {
		return err
	}
	signup, err := s.cfg.Signup(ctx)
	if err != nil {
		return err
	}
	return s.Render(c, http.StatusOK, "login", &loginPage{
		Base:          web.Base{Scripts: []string{"webauthn.js", "login.js"}},
		AuthRequestID: ar.ID, ClientName: client.Name, Begin: begin, Signup: signup,
	})
}

// boundBegin returns the JSON the sign-in page starts its first ceremony
// with: the options for ar's own challenge. A request whose challenge was
// used up or expired (the page reloaded after a refused attempt, or opened
// late) gets a new one.
func (s *Handlers) boundBegin(ctx context.Context, ar *models.AuthRequest) (string, error) {
	if ar.LoginChallenge == nil || ar.LoginChallengeExpiresAt == nil || !s.cfg.Now().Add(30*time.Second).Before(*ar.LoginChallengeExpiresAt) {
		ch, exp, err := s.passkeys.NewLoginChallenge()
		if err != nil {
			return "", err
		}
		if err := s.db.SetLoginChallenge(ctx, ar.ID, ch, exp); err != nil {
			return "", err
		}
		ar.LoginChallenge, ar.LoginChallengeExpiresAt = ch, &exp
	}
	opts, err := s.passkeys.LoginOptions(ar.LoginChallenge)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(web.CeremonyBegin{Options: opts})
	return string(b), err
}

// loginHintMatches reports whether an OIDC login_hint (Core §3.1.2.1) can
// name the session's user: its ID (sub), username or email, compared
// case-insensitively except the ID. Sign-in is usernameless, so the hint is
// used for one thing only: a hint that does not name the signed-in user
// stops the session from being reused silently, and the sign-in page is
// shown (with prompt=none the client gets login_required). Other users are
// not looked up, so the answer says nothing about which accounts exist, and
// whoever's passkey is then presented is signed in.
func (s *Handlers) loginHintMatches(c echo.Context, hint, userID string) (bool, error) {
	hint = strings.TrimSpace(hint)
	if hint == userID {
		return true, nil
	}
	u, err := s.db.UserByID(c.Request().Context(), userID)
	if errors.Is(err, models.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.EqualFold(hint, u.Username) || u.Email != "" && strings.EqualFold(hint, u.Email), nil
}

// HandlePasskeyLoginBegin serves POST /login/passkey/begin.
func (s *Handlers) HandlePasskeyLoginBegin(c echo.Context) error {
	var req struct {
		AuthRequestID string `json:"authRequestID"`
	}
	if err := web.DecodeJSON(c, &req); err != nil {
		return err
	}
	ar, err := s.pendingAuthRequest(c, req.AuthRequestID)
	if err != nil {
		return err
	}
	id, opts, err := s.passkeys.BeginLogin(c.Request().Context(), ar.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, web.CeremonyBegin{CeremonyID: id, Options: opts})
}

// HandlePasskeyLoginFinish serves POST /login/passkey/finish: parse, one
// call of the sign-in service, render.
func (s *Handlers) HandlePasskeyLoginFinish(c echo.Context) error {
	var req struct {
		AuthRequestID string          `json:"authRequestID"`
		CeremonyID    string          `json:"ceremonyID"`
		Credential    json.RawMessage `json:"credential"`
	}
	if err := web.DecodeJSON(c, &req); err != nil {
		return err
	}
	ar, err := s.pendingAuthRequest(c, req.AuthRequestID)
	if err != nil {
		return err
	}
	b, err := s.browser(c)
	if err != nil {
		return err
	}
	out, err := s.svc.FinishAuthRequest(c.Request().Context(), ar, PasskeyAnswer{CeremonyID: req.CeremonyID, Credential: req.Credential}, b)
	if err != nil {
		return PasskeyError(err)
	}
	s.setSession(c, out)
	if out.ConsentRequired {
		return s.failConsentRequired(c, ar.ID)
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": out.Next})
}

// browser describes the request's browser to the sign-in service.
func (s *Handlers) browser(c echo.Context) (Browser, error) {
	sess, err := s.sessions.Current(c)
	if err != nil {
		return Browser{}, err
	}
	return Browser{Session: sess, IP: c.RealIP(), UserAgent: c.Request().UserAgent()}, nil
}

// setSession sets the cookie of a session the sign-in started.
func (s *Handlers) setSession(c echo.Context, out *SignedIn) {
	if out.SessionToken != "" {
		s.sessions.SetCookie(c, out.SessionToken)
	}
}

// failConsentRequired ends a prompt=none request the user has not
// consented to (OIDC Core §3.1.2.6); op answers the client.
func (s *Handlers) failConsentRequired(c echo.Context, authRequestID string) error {
	return s.failAuthRequest(c, authRequestID, oidc.ConsentRequired, "the user has not consented to this application")
}

// failAuthRequest ends an auth request with an OAuth error; op's
// Provider.FailAuthRequest answers the client. With response_mode=form_post
// that answer is op's self-submitting form (OAuth 2.0 Form Post Response
// Mode §2), so the response gets the CSP that lets it submit.
func (s *Handlers) failAuthRequest(c echo.Context, authRequestID string, kind oidc.FailKind, description string) error {
	c.Response().Header().Set("Content-Security-Policy", web.FormPostPolicy)
	s.op.FailAuthRequest(c.Response(), c.Request(), authRequestID, kind, description)
	return nil
}

// PasskeyFailure audits a refused ceremony (the account page's passkey
// registration and re-authentication) and answers with a safe message.
func (s *Handlers) PasskeyFailure(c echo.Context, clientID string, err error) error {
	s.svc.auditRefusal(c.Request().Context(), clientID, err, c.RealIP())
	return PasskeyError(err)
}
