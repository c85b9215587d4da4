package idp

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// A running server says so in the database (models.MarkInstanceRunning),
// renewing its mark every presenceEvery for presenceTTL, and removes it
// when it stops. `latchkey master-key rotate` refuses while any mark is
// live: a running server holds the old master key and would go on sealing
// new signing keys with it.
const (
	presenceEvery = 20 * time.Second
	presenceTTL   = 60 * time.Second
)

// markRunning records this instance as running; failures are logged (the
// mark only guards offline maintenance commands).
func (s *Server) markRunning(ctx context.Context) {
	if err := s.db.MarkInstanceRunning(ctx, s.instanceID, presenceTTL); err != nil && ctx.Err() == nil {
		s.cfg.Logger.Error("mark instance running", "err", err)
	}
}

// markRunningAndConfirm marks this instance running and then checks that
// the database is still sealed with sealer's key; on a mismatch (the key
// was rotated while this server started) it removes the mark.
func (s *Server) markRunningAndConfirm(ctx context.Context, sealer *models.Sealer) error {
	if err := s.db.MarkInstanceRunning(ctx, s.instanceID, presenceTTL); err != nil {
		return err
	}
	if err := s.db.ConfirmMasterKey(ctx, sealer.Fingerprint()); err != nil {
		s.markStopped()
		return fmt.Errorf("refusing to start: %w (was it rotated while this server started? start it with the new key)", err)
	}
	return nil
}

// presenceJob renews the mark until ctx ends.
func (s *Server) presenceJob(ctx context.Context) {
	every(ctx, presenceEvery, false, func() { s.markRunning(ctx) })
}

// markStopped removes this instance's mark after shutdown.
func (s *Server) markStopped() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.db.MarkInstanceStopped(ctx, s.instanceID); err != nil {
		s.cfg.Logger.Error("mark instance stopped", "err", err)
	}
	// A job's lease is held for its whole round (runLeased), so that the
	// job runs once a round across instances; a stopped server gives its
	// rounds up, so that another instance, or `latchkey purge` run just
	// after the stop, need not wait up to a round for the lease to expire.
	if err := s.db.ReleaseLeasesOf(ctx, s.instanceID); err != nil {
		s.cfg.Logger.Error("release job leases", "err", err)
	}
}
