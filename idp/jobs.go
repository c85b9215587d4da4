package idp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// newInstanceID names this server as a lease holder: host, pid and a
// random part, so two servers in one process are two holders.
func newInstanceID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// leaseFor is how long one round of a periodic job holds its lease: a
// little less than the period, so that exactly one instance — whichever
// ticks first after the lease expired — runs each round.
func leaseFor(period time.Duration) time.Duration { return period - period/10 }

// runLeased runs fn when this instance gets the database lease named job
// for ttl; while another instance holds it, the round is skipped. So a
// job runs once per round across all instances sharing the database, not
// once per instance. It reports whether fn ran.
func (s *Server) runLeased(ctx context.Context, job string, ttl time.Duration, fn func(context.Context)) bool {
	ok, err := s.db.AcquireLease(ctx, job, s.instanceID, ttl)
	switch {
	case err != nil:
		s.cfg.Logger.Error("background job lease", "job", job, "err", err)
		s.metrics.jobs.WithLabelValues(job, "error").Inc()
		return false
	case !ok:
		s.metrics.jobs.WithLabelValues(job, "skipped").Inc()
		return false
	}
	fn(ctx)
	s.metrics.jobs.WithLabelValues(job, "ran").Inc()
	return true
}

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
	// Once per round across instances sharing the database.
	every(ctx, policyReconcileEvery, false, func() {
		s.runLeased(ctx, "passkey_policy", leaseFor(policyReconcileEvery), s.reconcilePolicy)
	})
}

// every runs fn every d (first at once when now is set) until ctx ends.
func every(ctx context.Context, d time.Duration, now bool, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	if now {
		fn()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// brandingEvery is how often each instance reloads the branding, so that
// a change made on another instance shows within a few seconds.
const brandingEvery = 5 * time.Second

// brandingJobs reloads the branding until ctx ends.
func (s *Server) brandingJobs(ctx context.Context) {
	every(ctx, brandingEvery, false, func() {
		if err := s.pages.Brand.Reload(ctx, s.db); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("reload branding", "err", err)
		}
	})
}

// backchannelEvery is how often each instance looks for logout tokens to
// deliver.
const backchannelEvery = 2 * time.Second

// backchannelJobs delivers back-channel logout tokens until ctx ends.
func (s *Server) backchannelJobs(ctx context.Context) {
	every(ctx, backchannelEvery, false, func() {
		if _, err := s.op.DeliverBackchannelLogouts(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("deliver back-channel logouts", "err", err)
		}
	})
}

// purgeEvery is how often expired, used and revoked rows are deleted
// (models.Purge), once per round across instances.
const purgeEvery = time.Minute

// purge runs models.Purge once and counts what it deleted; failures are
// logged (the next round retries).
func (s *Server) purge(ctx context.Context) {
	counts, err := s.db.Purge(ctx, models.PurgeOptions{AuditBefore: s.cfg.Now().Add(-s.cfg.AuditRetention)})
	total := int64(0)
	for table, n := range counts {
		s.metrics.purged.WithLabelValues(table).Add(float64(n))
		total += n
	}
	switch {
	case err != nil && ctx.Err() == nil:
		s.cfg.Logger.Error("purge", "err", err, "deleted", total)
	case total > 0:
		s.cfg.Logger.Debug("purge", "deleted", total)
	}
}

// purgeJobs purges until ctx ends: once at start, then every purgeEvery.
func (s *Server) purgeJobs(ctx context.Context) {
	every(ctx, purgeEvery, true, func() { s.runLeased(ctx, models.PurgeLease, leaseFor(purgeEvery), s.purge) })
}
