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
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
	"github.com/latchkey-idp/latchkey/passkeys"
)

type loginPage struct {
	web.Base
	AuthRequestID string
	ClientName    string
	// Begin is the JSON of the page's first ceremony, {"ceremonyID": "",
	// "options": …}: the auth request's own challenge (passkeys/bound.go),
	// so the page needs no POST /login/passkey/begin to start.
	Begin string
}

// pendingAuthRequest loads an auth request that can still be signed in to.
func (s *Handlers) pendingAuthRequest(c echo.Context, id string) (*models.AuthRequest, error) {
	if id == "" {
		return nil, web.NewError(http.StatusBadRequest, "This sign-in link is incomplete. Go back to the application and start again.", nil)
	}
	ar, err := s.db.AuthRequestByID(c.Request().Context(), id)
	switch {
	case errors.Is(err, models.ErrNotFound), errors.Is(err, models.ErrExpired):
		return nil, &web.Error{Status: http.StatusBadRequest, Message: "This sign-in request has expired or is unknown.",
			Hint: "Go back to the application and start signing in again.", Err: err}
	case err != nil:
		return nil, err
	case ar.Done:
		return nil, web.NewError(http.StatusConflict, "This sign-in request was already completed. Go back to the application.", nil)
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
		if err := s.CheckClientGroups(c, ar.ClientID, sess.UserID); err != nil { // client_groups.go
			return err
		}
		next, err := s.completeAuthRequest(c, ar, sess.ID, sess.UserID, sess.AuthTime, sess.AMR, sess.ACR, nil) // consent.go
		if err != nil || next == "" {
			return err
		}
		_ = s.db.TouchSession(ctx, sess.ID)
		return c.Redirect(http.StatusFound, next)
	}
	if slices.Contains(ar.Prompt, "none") {
		// OIDC Core §3.1.2.6: no UI may be shown; tell the client.
		s.op.FailAuthRequest(c.Response(), c.Request(), ar.ID, oidc.LoginRequired, "the user is not signed in")
		return nil
	}
	client, err := s.db.ClientByID(ctx, ar.ClientID)
	if err != nil {
		return err
	}
	begin, err := s.boundBegin(ctx, ar)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "login", &loginPage{
		Base:          web.Base{Scripts: []string{"webauthn.js", "login.js"}},
		AuthRequestID: ar.ID, ClientName: client.Name, Begin: begin,
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

// HandlePasskeyLoginFinish serves POST /login/passkey/finish.
func (s *Handlers) HandlePasskeyLoginFinish(c echo.Context) error {
	ctx := c.Request().Context()
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
	// No ceremony ID: the answer is to the auth request's own challenge
	// (passkeys/bound.go), which a refusal uses up; success uses it up
	// when the request is completed with it below.
	var (
		res       *passkeys.LoginResult
		challenge []byte
	)
	// The credential's new sign count is saved with the sign-in below, or
	// on its own when the sign-in goes no further (saveAlone).
	finishCtx := passkeys.WithDeferredCredentialUpdate(ctx)
	saveAlone := func() error { return s.passkeys.SaveLogin(ctx, res) }
	// useUp clears the page's challenge when its answer is refused, for
	// whatever reason, so that it cannot be answered again; it saves the
	// sign count of an answer that passed the passkey check.
	useUp := func(refusal error) error {
		if err := saveAlone(); err != nil {
			refusal = errors.Join(refusal, err)
		}
		if challenge == nil {
			return refusal
		}
		if err := s.db.ClearLoginChallenge(ctx, ar.ID, challenge); err != nil {
			return errors.Join(refusal, err)
		}
		return refusal
	}
	if req.CeremonyID == "" {
		challenge = ar.LoginChallenge
		res, err = s.passkeys.FinishBoundLogin(finishCtx, ar.LoginChallenge, ar.LoginChallengeExpiresAt, req.Credential)
		if err != nil && !errors.Is(err, passkeys.ErrBadRequest) { // an unparsable body leaves it alone
			if err := useUp(nil); err != nil {
				return err
			}
		}
	} else {
		res, err = s.passkeys.FinishLogin(finishCtx, req.CeremonyID, ar.ID, req.Credential)
	}
	if err != nil {
		return s.PasskeyFailure(c, ar.ClientID, err)
	}
	if !acrSatisfied(res.ACR, ar.ACRValues) {
		s.audit(c, &models.AuditEvent{Type: models.EventSignInFailed, UserID: res.User.ID, ClientID: ar.ClientID,
			Detail: models.JSONMap{"reason": "acr_not_met", "acr": res.ACR, "acr_values": ar.ACRValues}})
		return useUp(web.NewError(http.StatusForbidden, "This application requires a passkey on a security key or device whose make and model your organisation has verified. This passkey does not qualify; use another one.", nil))
	}
	if err := s.CheckClientGroups(c, ar.ClientID, res.User.ID); err != nil { // client_groups.go
		return useUp(err)
	}
	// The credential's sign count, the session, the completed auth request
	// and the audit event are written together: one commit (SQLite's
	// single writer), and a sign-in that cannot complete leaves no session
	// behind.
	var next string
	err = s.db.InTxContext(ctx, func(txCtx context.Context) error {
		if err := s.passkeys.SaveLogin(txCtx, res); err != nil {
			return err
		}
		req := c.Request()
		c.SetRequest(req.WithContext(txCtx))
		defer c.SetRequest(req)
		authTime := s.cfg.Now().UTC()
		sid, err := s.startSession(c, res, authTime)
		if err != nil {
			return err
		}
		next, err = s.completeAuthRequest(c, ar, sid, res.User.ID, authTime, res.AMR, res.ACR, challenge) // consent.go
		if err != nil {
			return web.NewError(http.StatusConflict, "This sign-in request was already completed. Go back to the application.", err)
		}
		if next == "" {
			return nil // prompt=none refused; the response is written
		}
		s.audit(c, &models.AuditEvent{Type: models.EventSignIn, Success: true, UserID: res.User.ID, ClientID: ar.ClientID,
			Detail: models.JSONMap{"credential": res.Credential.ID, "amr": res.AMR, "acr": res.ACR, "session": sid}})
		return nil
	})
	if err != nil {
		// Rolled back: the sign count is saved on its own.
		if serr := saveAlone(); serr != nil {
			return errors.Join(err, serr)
		}
		return err
	}
	if next == "" {
		return nil
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": next})
}

// startSession refreshes the browser's session when the same user signs in
// again (the sid stays stable for logout), otherwise ends the old one and
// starts a new session, authenticated at authTime. It returns the session
// ID. The caller records the same authTime on the auth request, so the ID
// token's auth_time is the session's (OIDC Core §2), now and when the
// session is reused.
func (s *Handlers) startSession(c echo.Context, res *passkeys.LoginResult, authTime time.Time) (string, error) {
	ctx := c.Request().Context()
	old, err := s.sessions.Current(c)
	if err != nil {
		return "", err
	}
	if old != nil && old.UserID == res.User.ID {
		if err := s.db.ReauthenticateSession(ctx, old.ID, res.Credential.ID, res.AMR, res.ACR, authTime, s.cfg.SessionTTL); err == nil {
			return old.ID, nil
		}
	} else if old != nil {
		if err := s.db.EndSession(ctx, old.ID); err != nil {
			return "", err
		}
	}
	credID := res.Credential.ID
	sess := &models.Session{UserID: res.User.ID, CredentialID: &credID, AuthTime: authTime, AMR: res.AMR, ACR: res.ACR,
		UserAgent: web.Truncate(c.Request().UserAgent(), 256), IP: c.RealIP()}
	raw, err := s.db.CreateSession(ctx, sess, s.cfg.SessionTTL)
	if err != nil {
		return "", err
	}
	s.sessions.SetCookie(c, raw)
	return sess.ID, nil
}

// PasskeyFailure audits a refused ceremony and answers with a safe message.
func (s *Handlers) PasskeyFailure(c echo.Context, clientID string, err error) error {
	var pe *passkeys.Error
	if !errors.As(err, &pe) || errors.Is(err, passkeys.ErrInternal) {
		return err // a 500, logged once by the error handler
	}
	ev := &models.AuditEvent{Type: models.EventSignInFailed, Success: false, ClientID: clientID,
		Detail: models.JSONMap{"reason": passkeys.Reason(err)}}
	if errors.Is(err, passkeys.ErrCloneDetected) {
		ev.Type = models.EventCloneWarning
	}
	if errors.Is(err, passkeys.ErrPolicy) {
		ev.Type = models.EventPasskeyPolicyRefused
	}
	s.audit(c, ev)
	s.cfg.Logger.Info("passkey ceremony refused", "reason", passkeys.Reason(err), "err", err)
	status := http.StatusUnauthorized
	switch {
	case errors.Is(err, passkeys.ErrBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, passkeys.ErrPolicy):
		status = http.StatusForbidden
	}
	return web.NewError(status, pe.Message, err)
}
