package oidc

import (
	"context"
	"errors"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// TerminateSessionFromRequest is op's hook for RP-initiated logout;
// Latchkey's end_session endpoint (server.go EndSession) calls
// terminateSession with the browser's session cookie instead.
func (s *Storage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	redirect, _, err := s.terminateSession(ctx, req, "")
	return redirect, err
}

// terminateSession implements RP-initiated logout (OpenID Connect
// RP-Initiated Logout 1.0) and reports whether it ended the browser
// session whose raw cookie token is browserSession:
//   - the browser session is ended, but when an id_token_hint is given
//     only if it names the same user;
//   - the session named by the hint's sid is ended if it belongs to the
//     hint's subject (the hint is an ID token we signed).
//
// Ending a session revokes the tokens issued under it. The browser is sent
// to the post_logout_redirect_uri op validated against the client, or to
// Issuer+LoggedOutPath.
func (s *Storage) terminateSession(ctx context.Context, req *op.EndSessionRequest, browserSession string) (redirect string, ended bool, err error) {
	hintSub, hintSID := req.UserID, ""
	if req.IDTokenHintClaims != nil {
		hintSub, hintSID = req.IDTokenHintClaims.Subject, req.IDTokenHintClaims.SessionID
	}
	if browserSession != "" {
		sess, err := s.db.ActiveSession(ctx, browserSession)
		switch {
		case errors.Is(err, models.ErrNotFound):
		case err != nil:
			return "", false, err
		case hintSub == "" || sess.UserID == hintSub:
			if err := s.endSession(ctx, sess, req.ClientID); err != nil {
				return "", false, err
			}
			ended = true
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
			return "", false, err
		case sess.UserID == hintSub && sess.EndedAt == nil:
			if err := s.endSession(ctx, sess, req.ClientID); err != nil {
				return "", false, err
			}
		}
	}
	if req.RedirectURI != "" {
		return req.RedirectURI, ended, nil
	}
	return s.cfg.Issuer + s.cfg.LoggedOutPath, ended, nil
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
