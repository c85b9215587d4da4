package models

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestHitRateLimit counts in fixed windows, per bucket, without losing a
// hit under concurrency (on both backends: the upsert is one statement).
func TestHitRateLimit(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	clock.t = time.Date(2026, 11, 22, 10, 0, 5, 0, time.UTC)
	for i := 1; i <= 3; i++ {
		n, reset, err := db.HitRateLimit(ctx, "login|192.0.2.1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(i) || !reset.Equal(time.Date(2026, 11, 22, 10, 1, 0, 0, time.UTC)) {
			t.Fatalf("hit %d: count %d, reset %v", i, n, reset)
		}
	}
	if n, _, _ := db.HitRateLimit(ctx, "login|192.0.2.2", time.Minute); n != 1 {
		t.Fatalf("other bucket count %d", n)
	}
	clock.Advance(time.Minute)
	if n, _, _ := db.HitRateLimit(ctx, "login|192.0.2.1", time.Minute); n != 1 {
		t.Fatalf("new window count %d", n)
	}

	const workers, hits = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*hits)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < hits; i++ {
				if _, _, err := db.HitRateLimit(ctx, "token|198.51.100.1", time.Hour); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _, _ := db.HitRateLimit(ctx, "token|198.51.100.1", time.Hour); n != workers*hits+1 {
		t.Fatalf("concurrent hits: count %d, want %d", n, workers*hits+1)
	}

	// Stale counters are removed by the purge.
	clock.Advance(2 * time.Hour)
	if _, err := db.Purge(ctx, PurgeOptions{}); err != nil {
		t.Fatal(err)
	}
	var left int64
	db.Gorm().Model(&RateLimitBucket{}).Count(&left)
	if left != 0 {
		t.Fatalf("%d stale counters left", left)
	}
}

func TestPurgeAuditRetention(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	_ = db.Audit(ctx, &AuditEvent{Type: EventSignIn})
	clock.Advance(48 * time.Hour)
	_ = db.Audit(ctx, &AuditEvent{Type: EventSignIn})
	n, err := db.Purge(ctx, PurgeOptions{AuditBefore: clock.Now().Add(-24 * time.Hour)})
	if err != nil || n["audit_events"] != 1 {
		t.Fatalf("deleted %d, %v", n["audit_events"], err)
	}
	// Without a retention the purge keeps every event.
	clock.Advance(48 * time.Hour)
	if n, err := db.Purge(ctx, PurgeOptions{}); err != nil || n["audit_events"] != 0 {
		t.Fatalf("deleted %d without a retention, %v", n["audit_events"], err)
	}
}
