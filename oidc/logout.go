package oidc

import (
	"context"
	"errors"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// LogoutResult tells idp what RP-initiated logout did to the browser
// session named by WithBrowserSession, so it can clear the cookie and
// audit. It is filled while op's end_session handler runs.
type LogoutResult struct {
	Ended     bool   // the browser session was ended
	SessionID string // its ID (the sid)
	UserID    string // its user
}

type browserSession struct {
	raw    string
	result *LogoutResult
}

// WithBrowserSession puts the raw session cookie token in ctx for the
// end_session endpoint. The returned result is filled when the request has
// been handled.
func WithBrowserSession(ctx context.Context, rawSessionToken string) (context.Context, *LogoutResult) {
	res := &LogoutResult{}
	return context.WithValue(ctx, ctxKeyBrowserSession, &browserSession{raw: rawSessionToken, result: res}), res
}

// TerminateSessionFromRequest implements RP-initiated logout (OpenID
// Connect RP-Initiated Logout 1.0):
//   - the browser session in the context is ended, but when an
//     id_token_hint is given only if it names the same user;
//   - the session named by the hint's sid is ended if it belongs to the
//     hint's subject (the hint is an ID token we signed).
//
// Ending a session revokes the tokens issued under it. The browser is sent
// to the post_logout_redirect_uri op validated against the client, or to
// Issuer+LoggedOutPath.
func (s *Storage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	hintSub, hintSID := req.UserID, ""
	if req.IDTokenHintClaims != nil {
		hintSub, hintSID = req.IDTokenHintClaims.Subject, req.IDTokenHintClaims.SessionID
	}
	if bs, _ := ctx.Value(ctxKeyBrowserSession).(*browserSession); bs != nil && bs.raw != "" {
		sess, err := s.db.ActiveSession(ctx, bs.raw)
		switch {
		case errors.Is(err, models.ErrNotFound):
		case err != nil:
			return "", err
		case hintSub == "" || sess.UserID == hintSub:
			if err := s.endSession(ctx, sess, req.ClientID); err != nil {
				return "", err
			}
			*bs.result = LogoutResult{Ended: true, SessionID: sess.ID, UserID: sess.UserID}
			if sess.ID == hintSID {
				hintSID = ""
			}
		}
	}
	if hintSID != "" && hintSub != "" {
		sess, err := s.db.SessionByID(ctx, hintSID)
		switch {
		case errors.Is(err, models.ErrNotFound):
		case err != nil:
			return "", err
		case sess.UserID == hintSub && sess.EndedAt == nil:
			if err := s.endSession(ctx, sess, req.ClientID); err != nil {
				return "", err
			}
		}
	}
	if req.RedirectURI != "" {
		return req.RedirectURI, nil
	}
	return s.cfg.Issuer + s.cfg.LoggedOutPath, nil
}

func (s *Storage) endSession(ctx context.Context, sess *models.Session, clientID string) error {
	if err := s.db.EndSession(ctx, sess.ID); err != nil {
		return err
	}
	s.audit(ctx, &models.AuditEvent{
		Type: models.EventSignOut, Success: true, UserID: sess.UserID, ClientID: clientID,
		Detail: models.JSONMap{"session_id": sess.ID, "via": "end_session"},
	})
	return nil
}
