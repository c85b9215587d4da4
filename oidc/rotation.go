package oidc

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// Scheduled key rotation. Every KeyRotation a new key of each algorithm
// takes over signing. It is created publishLead earlier with ActivatesAt
// in the future, so it is in JWKS (and in every RP's JWKS cache, which
// Latchkey tells to keep at most 5 minutes) before the first token
// carries its kid. The key it replaces retires at that moment and stays
// in JWKS until every token it signed has expired (the longest access or
// ID token lifetime, plus a margin for instances whose key cache is up to
// keyReloadEvery old), then it is deleted.

// publishLead is how long a new key is published before it signs:
// one day, or a quarter of the rotation period when that is shorter.
func publishLead(rotation time.Duration) time.Duration {
	return min(24*time.Hour, rotation/4)
}

// retireMargin keeps a retired key published a little longer than its
// tokens live, covering clock skew and stale key caches of other instances.
const retireMargin = keyReloadEvery + time.Minute

// MaintainKeys runs the rotation schedule once: it creates the next key of
// each algorithm when the current one is due within publishLead, retires
// keys that a newer key has replaced, and deletes keys whose tokens have
// all expired. It is idempotent and safe to run on several instances (a
// duplicate next key is harmless: the newest one signs). idp runs it every
// few minutes.
func (p *Provider) MaintainKeys(ctx context.Context) error {
	lifetime, err := p.tokenLifetime(ctx)
	if err != nil {
		return err
	}
	created, retired, err := p.storage.keys.maintain(ctx, p.cfg.KeyRotation, lifetime+retireMargin)
	if err != nil {
		return fmt.Errorf("scheduled key rotation: %w", err)
	}
	if len(created) > 0 || len(retired) > 0 {
		p.storage.audit(ctx, &models.AuditEvent{
			Type: models.EventKeyRotated, Success: true, ActorID: "scheduler",
			Detail: models.JSONMap{"scheduled": true, "published": created, "retired": retired},
		})
	}
	return nil
}

// tokenLifetime is the longest a token signed now can stay valid: the
// server's access and ID token lifetimes or any client's own.
func (p *Provider) tokenLifetime(ctx context.Context) (time.Duration, error) {
	longest, err := p.db.LongestClientTokenTTL(ctx) // one aggregate, not every client
	if err != nil {
		return 0, err
	}
	return max(p.cfg.maxTokenLifetime(), longest), nil
}

func (kr *keyring) maintain(ctx context.Context, rotation, keepPublished time.Duration) (created, retired []string, err error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if err := kr.ensureLocked(ctx, false); err != nil {
		return nil, nil, err
	}
	rows, err := kr.db.PublishedSigningKeys(ctx) // newest activation first
	if err != nil {
		return nil, nil, err
	}
	now := kr.now()
	lead := publishLead(rotation)
	for _, alg := range signingAlgs {
		var current, next *models.SigningKey
		for i := range rows {
			r := &rows[i]
			if r.Algorithm != string(alg) {
				continue
			}
			switch {
			case r.ActivatesAt.After(now) && r.RetiresAt == nil:
				next = r
			case current == nil && !r.ActivatesAt.After(now) && (r.RetiresAt == nil || now.Before(*r.RetiresAt)):
				current = r
			}
		}
		if current == nil {
			continue // ensureLocked just created one; it is picked up next run
		}
		if next == nil && !now.Before(current.ActivatesAt.Add(rotation-lead)) {
			activates := current.ActivatesAt.Add(rotation)
			if earliest := now.Add(lead); activates.Before(earliest) {
				activates = earliest
			}
			kid, err := kr.create(ctx, alg, activates)
			if err != nil {
				return created, retired, err
			}
			created = append(created, kid)
		}
		// Every older key that never got a retirement date stopped signing
		// when current activated.
		for i := range rows {
			r := &rows[i]
			if r.Algorithm != string(alg) || r.ID == current.ID || r.RetiresAt != nil || r.ActivatesAt.After(current.ActivatesAt) {
				continue
			}
			if err := kr.db.RetireSigningKey(ctx, r.ID, current.ActivatesAt, current.ActivatesAt.Add(keepPublished)); err != nil {
				return created, retired, err
			}
			retired = append(retired, r.ID)
		}
	}
	if err := kr.db.DeleteExpiredSigningKeys(ctx); err != nil {
		return created, retired, err
	}
	return created, retired, kr.reloadLocked(ctx, false)
}
