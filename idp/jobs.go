package idp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"
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
