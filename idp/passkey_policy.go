package idp

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// policyReconcileEvery is how often passkeys are re-evaluated against the
// passkey policy, so a group policy changed from the CLI or by another
// instance flags the passkeys it no longer accepts (passkeys.ReconcilePolicy).
const policyReconcileEvery = 5 * time.Minute

// reconcilePolicy flags passkeys that no longer satisfy the policy and
// clears flags of those that do again; failures are logged.
func (s *Server) reconcilePolicy(ctx context.Context) {
	flagged, cleared, err := s.passkeys.ReconcilePolicy(ctx)
	switch {
	case err != nil:
		s.cfg.Logger.Error("passkey policy reconcile", "err", err)
	case flagged > 0 || cleared > 0:
		s.cfg.Logger.Info("passkey policy reconciled", "flagged", flagged, "cleared", cleared)
	}
}

// policyJobs re-evaluates passkeys periodically until ctx ends.
func (s *Server) policyJobs(ctx context.Context) {
	t := time.NewTicker(policyReconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Once per round across instances sharing the database.
			s.runLeased(ctx, "passkey_policy", leaseFor(policyReconcileEvery), s.reconcilePolicy)
		}
	}
}

// handleWebAuthnWellKnown serves the related origins document (WebAuthn L3
// §5.11.1): browsers fetch https://RP-ID/.well-known/webauthn when a page
// on another origin asks for a passkey of this RP ID. It is served only
// when related origins are configured, and only helps when the issuer
// host is the RP ID (otherwise the RP ID's own site must serve it).
func (s *Server) handleWebAuthnWellKnown(c echo.Context) error {
	doc, err := s.passkeys.RelatedOriginsDocument()
	if err != nil {
		return err
	}
	if doc == nil {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "application/json", doc)
}

// acrSatisfied reports whether a sign-in's acr meets the auth request's
// acr_values (see passkeys.ACRSatisfies).
func acrSatisfied(acr string, requested []string) bool {
	return passkeys.ACRSatisfies(acr, requested)
}

// sessionPasskeyRefused reports whether the passkey that started a session
// is now refused by the passkey policy (flagged and past its grace
// period), so the session cannot complete new sign-ins without a fresh
// ceremony. A missing passkey (removed) also needs a fresh sign-in.
func (s *Server) sessionPasskeyRefused(ctx context.Context, sess *models.Session) bool {
	if sess.CredentialID == nil {
		return false
	}
	creds, err := s.db.CredentialsByUser(ctx, sess.UserID)
	if err != nil {
		return true
	}
	for i := range creds {
		if creds[i].ID == *sess.CredentialID {
			st, err := s.passkeys.Evaluate(ctx, &creds[i])
			return err != nil || st.Refused
		}
	}
	return true
}
