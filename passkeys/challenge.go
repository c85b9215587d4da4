package passkeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey-idp/latchkey/models"
)

// Challenges live in the ceremonies table, not in process memory, so any
// instance can finish what another began. go-webauthn's SessionData is not
// single use by itself, so the whole of it is stored server-side and
// consumed with DELETE … RETURNING: a challenge is answered at most once
// (WebAuthn L3 §13.4.3, "Cryptographic Challenges").

// saveCeremony stores the session data of a ceremony that just began and
// returns the ceremony ID handed to the browser.
func (s *Service) saveCeremony(ctx context.Context, c *models.Ceremony, sd *webauthn.SessionData, ttl time.Duration) (string, error) {
	raw, err := json.Marshal(sd)
	if err != nil {
		return "", fail(ErrInternal, fmt.Errorf("encode session data: %w", err))
	}
	now := s.db.Now()
	c.SessionData = raw
	c.CreatedAt = now
	c.ExpiresAt = now.Add(ttl)
	if err := s.db.CreateCeremony(ctx, c); err != nil {
		return "", fail(ErrInternal, fmt.Errorf("store ceremony: %w", err))
	}
	return c.ID, nil
}

// consumeCeremony atomically removes the ceremony of the given kind and
// returns it with its decoded session data. A ceremony of the other kind
// is consumed as well (it was misused, so it must not be answered later)
// and reported as ErrCeremonyMismatch.
func (s *Service) consumeCeremony(ctx context.Context, id, kind string) (*models.Ceremony, *webauthn.SessionData, error) {
	if id == "" {
		return nil, nil, fail(ErrCeremonyNotFound, errors.New("empty ceremony ID"))
	}
	c, err := s.db.ConsumeCeremony(ctx, id, kind)
	if errors.Is(err, models.ErrNotFound) {
		other := models.CeremonyLogin
		if kind == models.CeremonyLogin {
			other = models.CeremonyRegistration
		}
		if _, oerr := s.db.ConsumeCeremony(ctx, id, other); oerr == nil || errors.Is(oerr, models.ErrExpired) {
			return nil, nil, fail(ErrCeremonyMismatch, fmt.Errorf("ceremony is a %s ceremony, want %s", other, kind))
		}
		return nil, nil, fail(ErrCeremonyNotFound, err)
	}
	if errors.Is(err, models.ErrExpired) {
		return nil, nil, fail(ErrCeremonyExpired, err)
	}
	if err != nil {
		return nil, nil, fail(ErrInternal, fmt.Errorf("consume ceremony: %w", err))
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.SessionData, &sd); err != nil {
		return nil, nil, fail(ErrInternal, fmt.Errorf("decode session data: %w", err))
	}
	// go-webauthn stamps Expires from the wall clock; check it too, so a
	// stored row with a generous expiry cannot outlive the challenge.
	if !sd.Expires.IsZero() && !time.Now().Before(sd.Expires) {
		return nil, nil, fail(ErrCeremonyExpired, errSessionExpired)
	}
	return c, &sd, nil
}

// deref returns *p or "".
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ptrOrNil returns &s, or nil for "".
func ptrOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
