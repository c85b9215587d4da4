package models

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// A pushed request is consumed once, by its own client, before it
// expires; the purge deletes expired ones.
func TestPushedRequestSingleUse(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	push := func(ref, client string) {
		t.Helper()
		now := db.Now()
		if err := db.CreatePushedRequest(ctx, &PushedRequest{IDHash: HashToken(ref), ClientID: client, Params: "scope=openid",
			CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	push("r1", "app")
	if _, err := db.ConsumePushedRequest(ctx, HashToken("r1"), "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another client: %v", err)
	}
	// Concurrent redemptions (two instances): exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, err := db.ConsumePushedRequest(ctx, HashToken("r1"), "app")
			if err == nil {
				if pr.Params != "scope=openid" || pr.ClientID != "app" {
					t.Errorf("consumed %+v", pr)
				}
				mu.Lock()
				won++
				mu.Unlock()
			} else if !errors.Is(err, ErrNotFound) {
				t.Errorf("consume: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d redemptions of one request_uri, want 1", won)
	}

	push("r2", "app")
	clock.Advance(time.Minute)
	if _, err := db.ConsumePushedRequest(ctx, HashToken("r2"), "app"); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	push("r3", "app")
	clock.Advance(2 * time.Minute)
	counts, err := db.Purge(ctx, PurgeOptions{})
	if err != nil || counts["pushed_requests"] != 1 {
		t.Fatalf("purge: %v %v", counts, err)
	}
}
