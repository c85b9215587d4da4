package passkeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Sign-in challenges bound to an auth request.
//
// The OpenID Connect sign-in page needs no ceremony row: its challenge is
// minted with the auth request and stored in that row
// (models.AuthRequest.LoginChallenge), so the page carries the request
// options itself and the browser goes from the page straight to the
// authenticator. That saves a round trip (POST /login/passkey/begin) and a
// row written and deleted per sign-in. The challenge is used at most once
// (WebAuthn L3 §13.4.3) as a ceremony's is: the auth request is completed
// by an UPDATE that requires the challenge and clears it
// (models.DB.CompleteAuthRequest), and an answer that is refused clears it
// (models.DB.ClearLoginChallenge), after which the page starts a ceremony
// (BeginLogin) for the next attempt. Any instance can finish it: the
// challenge is in the database, not in memory.

// NewLoginChallenge returns a fresh random challenge for an auth request
// and when it expires (Config.LoginTimeout from now).
// Errors: ErrInternal.
func (s *Service) NewLoginChallenge() ([]byte, time.Time, error) {
	c, err := protocol.CreateChallenge()
	if err != nil {
		return nil, time.Time{}, fail(ErrInternal, fmt.Errorf("create challenge: %w", err))
	}
	return c, s.db.Now().Add(s.cfg.LoginTimeout), nil
}

// LoginOptions returns the JSON of navigator.credentials.get options for a
// bound challenge, the same options BeginLogin returns for a ceremony.
// Errors: ErrInternal.
func (s *Service) LoginOptions(challenge []byte) ([]byte, error) {
	assertion, _, err := s.boundSession(challenge)
	if err != nil {
		return nil, err
	}
	options, err := json.Marshal(assertion)
	if err != nil {
		return nil, fail(ErrInternal, fmt.Errorf("encode request options: %w", err))
	}
	return options, nil
}

// boundSession builds the options and session data of a discoverable
// sign-in with the given challenge, exactly as BeginLogin does for a random
// one. The session data carries no expiry: go-webauthn would compare it
// with the wall clock, and the stored expiry is checked against the
// database clock instead (FinishBoundLogin).
func (s *Service) boundSession(challenge []byte) (*protocol.CredentialAssertion, *webauthn.SessionData, error) {
	assertion, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired), webauthn.WithChallenge(challenge))
	if err != nil {
		return nil, nil, fail(ErrInternal, fmt.Errorf("begin login: %w", err))
	}
	sd.Expires = time.Time{}
	return assertion, sd, nil
}

// VerifyBoundLogin verifies an assertion (the JSON of
// PublicKeyCredential.toJSON()) that answers a challenge bound to an auth
// request, stored with its expiry. Like VerifyLogin it refuses an
// unparsable body first and leaves the credential's write-back to the
// caller (SaveLogin); it
// does not use the challenge up: the caller completes the auth request with
// it, or clears it when the answer is refused.
// Errors: ErrBadRequest, ErrCeremonyNotFound (no challenge: already used or
// refused), ErrCeremonyExpired, and VerifyLogin's verification errors.
func (s *Service) VerifyBoundLogin(ctx context.Context, challenge []byte, expires *time.Time, body []byte) (*LoginResult, error) {
	if len(body) > MaxBodySize {
		return nil, fail(ErrBadRequest, fmt.Errorf("body of %d bytes exceeds %d", len(body), MaxBodySize))
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, fail(ErrBadRequest, err)
	}
	if len(challenge) == 0 || expires == nil {
		return nil, fail(ErrCeremonyNotFound, errors.New("the auth request has no sign-in challenge"))
	}
	if !s.db.Now().Before(*expires) {
		return nil, fail(ErrCeremonyExpired, errSessionExpired)
	}
	_, sd, err := s.boundSession(challenge)
	if err != nil {
		return nil, err
	}
	return s.finishLogin(ctx, sd, parsed)
}
