package oidc

import (
	"github.com/latchkey-idp/latchkey/internal/outbound"

	"context"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// Storage implements op.Storage over models. Every method returns oidc.Err*
// values for client-visible failures (a plain error becomes server_error).
// It is created by New and safe for concurrent use.
type Storage struct {
	db      *models.DB
	cfg     Config
	keys    *keyring
	tokens  tokenKeys    // tokenid.go
	clients *clientCache // clientcache.go; nil: none
	// outbound sends back-channel logout tokens (backchannel.go).
	outbound *outbound.Client
}

var (
	_ op.Storage                        = (*Storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*Storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*Storage)(nil)
)

func (s *Storage) now() time.Time { return s.cfg.Now().UTC() }

// Health reports whether the database answers (op's /ready probe).
func (s *Storage) Health(ctx context.Context) error { return s.db.Ping(ctx) }

// SigningKey returns the active RS256 key. Latchkey's token endpoint signs
// each client's ID tokens with the algorithm it chose (server.go
// clientKeys); op signs nothing else.
func (s *Storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, err := s.keys.signingKey(ctx, "")
	if err != nil {
		return nil, err
	}
	return signingKeyAdapter{k}, nil
}

// SignatureAlgorithms lists the ID token algorithms offered.
func (s *Storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return append([]jose.SignatureAlgorithm(nil), signingAlgs...), nil
}

// KeySet returns every published public key: the next, current and
// previous ones.
func (s *Storage) KeySet(ctx context.Context) ([]op.Key, error) {
	ks := s.keys.published(ctx)
	out := make([]op.Key, len(ks))
	for i, k := range ks {
		out[i] = publicKeyAdapter{k}
	}
	return out, nil
}

// audit records a security event; a failure to write it is logged by the
// caller's error path, never hidden behind the OAuth error.
func (s *Storage) audit(ctx context.Context, ev *models.AuditEvent) {
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = s.now()
	}
	if err := s.db.Audit(ctx, ev); err != nil {
		logError(ctx, "write audit event", err, "type", ev.Type)
	}
}

// grantError maps a repository error to invalid_grant when the grant is
// unknown, expired or used, and to a server error otherwise.
func grantError(err error, what string) error {
	if errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrExpired) || errors.Is(err, models.ErrConflict) {
		return oidc.ErrInvalidGrant().WithDescription("%s is invalid or expired", what).WithParent(err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
