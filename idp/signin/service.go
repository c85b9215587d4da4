package signin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// Service carries out passkey sign-ins. Each of its methods is the whole
// of one sign-in: it verifies the assertion, and writes the credential's
// new sign count and BE/BS flags, the browser session, the completed auth
// request and the audit event in one transaction, so no handler can
// forget a step or commit half of them. It holds no HTTP types: handlers
// parse, call one method and render what it returns.
type Service struct {
	db       *models.DB
	passkeys Passkeys
	// callbackURL is op's /authorize/callback for an auth request.
	callbackURL func(ctx context.Context, authRequestID string) string
	sessionTTL  time.Duration
	now         func() time.Time
	logger      *slog.Logger
}

// NewService builds the sign-in service.
func NewService(db *models.DB, pk Passkeys, callbackURL func(context.Context, string) string, cfg Config) *Service {
	return &Service{db: db, passkeys: pk, callbackURL: callbackURL, sessionTTL: cfg.SessionTTL, now: cfg.Now, logger: cfg.Logger}
}

// Browser is what a sign-in knows of the browser it happens in.
type Browser struct {
	// Session is the browser's live session, or nil.
	Session   *models.Session
	IP        string
	UserAgent string
}

// PasskeyAnswer is a browser's answer to a sign-in challenge.
type PasskeyAnswer struct {
	// CeremonyID names the ceremony the answer is for; empty for the
	// challenge stored with the auth request (passkeys/bound.go).
	CeremonyID string
	// Credential is PublicKeyCredential.toJSON().
	Credential []byte
}

// SignedIn is what a successful sign-in returns to its handler.
type SignedIn struct {
	UserID    string
	SessionID string
	// SessionToken, when set, is the session's new raw cookie token (every
	// passkey sign-in issues one): the handler sets it as the cookie.
	SessionToken string
	// Next is where the browser continues: op's callback or the consent
	// page. Empty when ConsentRequired.
	Next string
	// ConsentRequired: prompt=none, and the user has not consented. The
	// handler ends the auth request with consent_required (op writes it).
	ConsentRequired bool
}

// FinishAuthRequest finishes the passkey sign-in of a pending auth request
// (POST /login/passkey/finish): verify the answer; check the acr the
// client asked for and the client's allowed groups; then, in one
// transaction, save the credential's sign count and flags, start or
// refresh the browser session, complete the auth request (or mark it as
// waiting for consent) and audit the sign-in. A refusal after a valid
// signature still saves the sign count (WebAuthn L3 §6.1.1: the counter is
// what clone detection compares against) and uses the request's own
// challenge up, so that the same answer cannot be replayed. Refusals are
// audited here.
// Errors: *passkeys.Error (see PasskeyError), *web.Error (403 for an acr or
// a group the sign-in does not meet, 409 for a request completed
// meanwhile), or an internal error.
func (s *Service) FinishAuthRequest(ctx context.Context, ar *models.AuthRequest, ans PasskeyAnswer, b Browser) (*SignedIn, error) {
	var (
		res       *passkeys.LoginResult
		err       error
		challenge []byte
	)
	if ans.CeremonyID == "" {
		challenge = ar.LoginChallenge
		res, err = s.passkeys.VerifyBoundLogin(ctx, ar.LoginChallenge, ar.LoginChallengeExpiresAt, ans.Credential)
	} else {
		res, err = s.passkeys.VerifyLogin(ctx, ans.CeremonyID, ar.ID, ans.Credential)
	}
	if err != nil {
		s.auditRefusal(ctx, ar.ClientID, err, b.IP)
		// An unparsable body leaves the page's challenge alone: nothing
		// was checked against it.
		if challenge != nil && !errors.Is(err, passkeys.ErrBadRequest) {
			return nil, s.refuse(ctx, ar, challenge, nil, err)
		}
		return nil, err
	}
	if !acrSatisfied(res.ACR, ar.ACRValues) {
		s.audit(ctx, b.IP, &models.AuditEvent{Type: models.EventSignInFailed, UserID: res.User.ID, ClientID: ar.ClientID,
			Detail: models.JSONMap{"reason": "acr_not_met", "acr": res.ACR, "acr_values": ar.ACRValues}})
		return nil, s.refuse(ctx, ar, challenge, res, web.NewError(http.StatusForbidden, i18n.Key("err.attestation_required"), nil))
	}
	if err := s.CheckClientGroups(ctx, ar.ClientID, res.User.ID, b.IP); err != nil {
		return nil, s.refuse(ctx, ar, challenge, res, err)
	}
	out := &SignedIn{UserID: res.User.ID}
	err = s.db.InTx(ctx, func(tx *models.DB) error {
		if err := s.passkeys.SaveLogin(ctx, tx, res); err != nil {
			return err
		}
		authTime := s.now().UTC()
		if err := s.startSession(ctx, tx, res, authTime, b, out); err != nil {
			return err
		}
		if err := s.complete(ctx, tx, ar, out, authTime, res.AMR, res.ACR, challenge); err != nil {
			return err
		}
		if out.ConsentRequired {
			return nil // the handler refuses the request; the session stands
		}
		return tx.Audit(ctx, &models.AuditEvent{Type: models.EventSignIn, Success: true, UserID: res.User.ID, ClientID: ar.ClientID, IP: b.IP,
			Detail: models.JSONMap{"credential": res.Credential.ID, "amr": res.AMR, "acr": res.ACR, "session": out.SessionID,
				"user_agent": web.Truncate(b.UserAgent, 200)}})
	})
	if err != nil {
		// Rolled back: the sign count is saved on its own.
		if serr := s.passkeys.SaveLogin(ctx, s.db, res); serr != nil {
			return nil, errors.Join(err, serr)
		}
		return nil, err
	}
	return out, nil
}

// FinishSession finishes a passkey sign-in that is not tied to an auth
// request (the account and device pages): verify the answer (ceremony
// ans.CeremonyID), then in one transaction save the credential's sign count
// and flags, start or refresh the browser session and audit the sign-in
// with via naming the page. Refusals are audited here.
// Errors: *passkeys.Error (see PasskeyError) or an internal error.
func (s *Service) FinishSession(ctx context.Context, ans PasskeyAnswer, b Browser, via string) (*SignedIn, error) {
	res, err := s.passkeys.VerifyLogin(ctx, ans.CeremonyID, "", ans.Credential)
	if err != nil {
		s.auditRefusal(ctx, "", err, b.IP)
		return nil, err
	}
	out := &SignedIn{UserID: res.User.ID}
	err = s.db.InTx(ctx, func(tx *models.DB) error {
		if err := s.passkeys.SaveLogin(ctx, tx, res); err != nil {
			return err
		}
		if err := s.startSession(ctx, tx, res, s.now().UTC(), b, out); err != nil {
			return err
		}
		return tx.Audit(ctx, &models.AuditEvent{Type: models.EventSignIn, Success: true, UserID: res.User.ID, IP: b.IP,
			Detail: models.JSONMap{"credential": res.Credential.ID, "amr": res.AMR, "session": out.SessionID, "via": via,
				"user_agent": web.Truncate(b.UserAgent, 200)}})
	})
	if err != nil {
		if serr := s.passkeys.SaveLogin(ctx, s.db, res); serr != nil {
			return nil, errors.Join(err, serr)
		}
		return nil, err
	}
	return out, nil
}

// ContinueSession completes an auth request with the browser's live
// session, when the request may reuse it (no prompt=login, max_age
// satisfied, the session's acr enough): the client's allowed groups are
// checked, and the request is completed or marked as waiting for consent.
// Errors: *web.Error (403 for a group the user is not in), or an internal
// error.
func (s *Service) ContinueSession(ctx context.Context, ar *models.AuthRequest, sess *models.Session, ip string) (*SignedIn, error) {
	if err := s.CheckClientGroups(ctx, ar.ClientID, sess.UserID, ip); err != nil {
		return nil, err
	}
	out := &SignedIn{UserID: sess.UserID, SessionID: sess.ID}
	if err := s.complete(ctx, s.db, ar, out, sess.AuthTime, sess.AMR, sess.ACR, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// refuse ends a sign-in that will not complete: it saves the sign count
// of an answer that passed the passkey check (res), and uses the page's
// challenge up, so that the answer cannot be sent again.
func (s *Service) refuse(ctx context.Context, ar *models.AuthRequest, challenge []byte, res *passkeys.LoginResult, refusal error) error {
	if err := s.passkeys.SaveLogin(ctx, s.db, res); err != nil {
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

// startSession refreshes the browser's session when the same user signs in
// again (a new cookie token; the sid stays stable for logout), otherwise
// ends the old one and
// starts a new session, authenticated at authTime. The caller records the
// same authTime on the auth request, so the ID token's auth_time is the
// session's (OIDC Core §2), now and when the session is reused.
func (s *Service) startSession(ctx context.Context, tx *models.DB, res *passkeys.LoginResult, authTime time.Time, b Browser, out *SignedIn) error {
	if old := b.Session; old != nil && old.UserID == res.User.ID {
		raw, err := tx.ReauthenticateSession(ctx, old.ID, res.Credential.ID, res.AMR, res.ACR, authTime, s.sessionTTL)
		if err == nil {
			// A new cookie token at every sign-in (session fixation);
			// the sid stays for the applications' back-channel logout.
			out.SessionID, out.SessionToken = old.ID, raw
			return nil
		} else if !errors.Is(err, models.ErrNotFound) {
			return err
		}
	} else if old != nil {
		if err := tx.EndSession(ctx, old.ID); err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
	}
	credID := res.Credential.ID
	sess := &models.Session{UserID: res.User.ID, CredentialID: &credID, AuthTime: authTime, AMR: res.AMR, ACR: res.ACR,
		UserAgent: web.Truncate(b.UserAgent, 256), IP: b.IP}
	raw, err := tx.CreateSession(ctx, sess, s.sessionTTL)
	if err != nil {
		return err
	}
	out.SessionID, out.SessionToken = sess.ID, raw
	return nil
}

// complete records the sign-in on ar and sets where the browser goes next:
// op's callback, which issues the code and sends it to the client (its
// storage records the session's new client for back-channel logout, oidc
// Storage.SaveAuthCode), or the consent page. With prompt=none and consent
// missing it sets ConsentRequired and records nothing. challenge is the
// request's own sign-in challenge the user answered (nil for a ceremony
// or a live session): the request must still hold it.
func (s *Service) complete(ctx context.Context, tx *models.DB, ar *models.AuthRequest, out *SignedIn, authTime time.Time, amr []string, acr string, challenge []byte) error {
	need, err := s.consentNeeded(ctx, tx, ar, out.UserID)
	if err != nil {
		return err
	}
	if need && slices.Contains(ar.Prompt, "none") {
		out.ConsentRequired = true
		return nil
	}
	err = tx.CompleteAuthRequest(ctx, ar.ID, models.Completion{UserID: out.UserID, SessionID: out.SessionID, AuthTime: authTime,
		AMR: amr, ACR: acr, Challenge: challenge, ConsentPending: need})
	if err != nil {
		return web.NewError(http.StatusConflict, i18n.Key("err.signin_done"), err)
	}
	if need {
		out.Next = "/consent?authRequestID=" + url.QueryEscape(ar.ID)
	} else {
		out.Next = s.callbackURL(ctx, ar.ID)
	}
	return nil
}

// consentNeeded reports whether userID must consent before the client
// gets what ar asks for: never for first-party (SkipConsent) or built-in
// clients; always with prompt=consent; otherwise unless an earlier consent
// covers every scope asked.
func (s *Service) consentNeeded(ctx context.Context, db *models.DB, ar *models.AuthRequest, userID string) (bool, error) {
	cl, err := db.ClientByID(ctx, ar.ClientID)
	if err != nil {
		return false, err
	}
	if cl.SkipConsent || cl.Builtin {
		return false, nil
	}
	if slices.Contains(ar.Prompt, "consent") {
		return true, nil
	}
	covered, err := db.ConsentCovers(ctx, userID, cl.ID, ar.Scopes)
	return !covered, err
}

// CheckClientGroups refuses (and audits) a sign-in to an application
// restricted to some groups when the user is in none of them.
// Errors: *web.Error 403, or an internal error.
func (s *Service) CheckClientGroups(ctx context.Context, clientID, userID, ip string) error {
	cl, err := s.db.ClientByID(ctx, clientID)
	if err != nil || len(cl.AllowedGroups) == 0 {
		return err
	}
	u, err := s.db.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	for _, g := range u.GroupNames() {
		if cl.AllowedGroups.Contains(g) {
			return nil
		}
	}
	s.audit(ctx, ip, &models.AuditEvent{Type: models.EventSignInFailed, Success: false, UserID: userID, ClientID: clientID,
		Detail: models.JSONMap{"reason": "not in an allowed group"}})
	return &web.Error{Status: http.StatusForbidden, Message: i18n.Key("err.groups"), Args: []any{"Client", cl.Name},
		Hint: i18n.Key("err.groups_hint")}
}

// auditRefusal audits a refused passkey answer: a clone warning, a passkey
// refused by policy, or a failed sign-in with its reason. Internal errors
// are not refusals; the error handler logs them.
func (s *Service) auditRefusal(ctx context.Context, clientID string, err error, ip string) {
	var pe *passkeys.Error
	if !errors.As(err, &pe) || errors.Is(err, passkeys.ErrInternal) {
		return
	}
	ev := &models.AuditEvent{Type: models.EventSignInFailed, Success: false, ClientID: clientID, UserID: pe.UserID,
		Detail: models.JSONMap{"reason": passkeys.Reason(err)}}
	if pe.CredentialID != "" {
		ev.Detail["credential"] = pe.CredentialID
	}
	if errors.Is(err, passkeys.ErrCloneDetected) {
		ev.Type = models.EventCloneWarning
	}
	if errors.Is(err, passkeys.ErrPolicy) {
		ev.Type = models.EventPasskeyPolicyRefused
	}
	s.audit(ctx, ip, ev)
	s.logger.Info("passkey ceremony refused", "reason", passkeys.Reason(err), "err", err)
}

// audit writes a refusal's event outside any transaction; a failure to
// audit is logged, not fatal to the answer the browser gets.
func (s *Service) audit(ctx context.Context, ip string, ev *models.AuditEvent) {
	ev.IP = ip
	if err := s.db.Audit(ctx, ev); err != nil {
		s.logger.Error("audit", "type", ev.Type, "err", err)
	}
}

// PasskeyError maps an error of the passkey check to the answer the
// browser gets: a safe message with 400 (a malformed answer), 403 (a
// passkey the policy refuses) or 401 (every other refusal). Internal errors
// pass through, to become a logged 500.
func PasskeyError(err error) error {
	var pe *passkeys.Error
	if !errors.As(err, &pe) || errors.Is(err, passkeys.ErrInternal) {
		return err
	}
	status := http.StatusUnauthorized
	switch {
	case errors.Is(err, passkeys.ErrBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, passkeys.ErrPolicy):
		status = http.StatusForbidden
	}
	if id := web.PolicyProblemID(passkeys.Reason(err), pe.Args); id != "" {
		return &web.Error{Status: status, Message: id, Args: pe.Args, Err: err}
	}
	return web.NewError(status, passkeyMessage(pe, err), err)
}

// passkeyMessages are the translated messages of a refused ceremony by
// kind; a policy refusal keeps its own message, which names the
// authenticator and the rule.
var passkeyMessages = map[error]string{
	passkeys.ErrBadRequest:        i18n.Key("passkey_err.bad_request"),
	passkeys.ErrCeremonyNotFound:  i18n.Key("passkey_err.ceremony_not_found"),
	passkeys.ErrCeremonyExpired:   i18n.Key("passkey_err.ceremony_expired"),
	passkeys.ErrCeremonyMismatch:  i18n.Key("passkey_err.ceremony_mismatch"),
	passkeys.ErrVerification:      i18n.Key("passkey_err.verification"),
	passkeys.ErrUnknownCredential: i18n.Key("passkey_err.unknown_credential"),
	passkeys.ErrUserDisabled:      i18n.Key("err.account_disabled"),
	passkeys.ErrCloneDetected:     i18n.Key("passkey_err.clone"),
	passkeys.ErrSetupLinkInvalid:  i18n.Key("passkey_err.setup_link"),
}

// passkeyReasons are the more precise messages of some causes.
var passkeyReasons = map[string]string{
	"uv_missing":        i18n.Key("passkey_err.uv_missing"),
	"not_discoverable":  i18n.Key("passkey_err.not_discoverable"),
	"credential_exists": i18n.Key("passkey_err.exists"),
}

// passkeyMessage is the message ID of a refused ceremony, or its English
// message when none fits.
func passkeyMessage(pe *passkeys.Error, err error) string {
	if id, ok := passkeyReasons[passkeys.Reason(err)]; ok {
		return id
	}
	if id, ok := passkeyMessages[pe.Kind]; ok {
		return id
	}
	return pe.Message
}
