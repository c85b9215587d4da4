package signin

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// HandleRelatedOriginsGet serves the related origins document (WebAuthn L3
// §5.11.1): browsers fetch https://RP-ID/.well-known/webauthn when a page
// on another origin asks for a passkey of this RP ID. It is served only
// when related origins are configured, and only helps when the issuer
// host is the RP ID (otherwise the RP ID's own site must serve it).
func (s *Handlers) HandleRelatedOriginsGet(c echo.Context) error {
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
func (s *Handlers) sessionPasskeyRefused(ctx context.Context, sess *models.Session) bool {
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
