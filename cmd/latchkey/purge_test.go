package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// TestCLIPurge: `latchkey purge` deletes what expired and keeps what is
// live; bad flags change nothing; it refuses to run beside another purge.
func TestCLIPurge(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := cliRun(t, dir, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	ctx := context.Background()
	db := openDataDir(t, dir)
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for _, c := range []*models.Ceremony{
		{ID: "dead1", Kind: "login", SessionData: []byte("{}"), CreatedAt: past, ExpiresAt: past},
		{ID: "dead2", Kind: "login", SessionData: []byte("{}"), CreatedAt: past, ExpiresAt: past},
		{ID: "live", Kind: "login", SessionData: []byte("{}"), CreatedAt: past, ExpiresAt: future},
	} {
		if err := db.Gorm().Create(c).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Audit(ctx, &models.AuditEvent{Type: models.EventSignIn, CreatedAt: time.Now().Add(-48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ceremonies := func() int64 {
		var n int64
		if err := db.Gorm().Model(&models.Ceremony{}).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, bad := range [][]string{{"--batch", "0"}, {"--batch", "10001"}, {"--audit-retention", "-1h"}} {
		code, _, errOut := cliRun(t, dir, append([]string{"purge"}, bad...)...)
		if code == 0 || !strings.Contains(errOut, strings.TrimPrefix(bad[0], "--")) || ceremonies() != 3 {
			t.Fatalf("purge %v: exit %d, %q, %d ceremonies left", bad, code, errOut, ceremonies())
		}
	}

	// Another purge (a server's round) holds the lease.
	if ok, err := db.AcquireLease(ctx, models.PurgeLease, "server-a", time.Minute); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	if code, _, errOut := cliRun(t, dir, "purge"); code == 0 || !strings.Contains(errOut, "server-a") || ceremonies() != 3 {
		t.Fatalf("purge beside another: exit %d, %q", code, errOut)
	}
	if err := db.ReleaseLease(ctx, models.PurgeLease, "server-a"); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cliRun(t, dir, "purge", "--audit-retention", "24h", "--batch", "1", "--json")
	if code != 0 {
		t.Fatalf("purge: %s", errOut)
	}
	var res struct {
		Deleted map[string]int64 `json:"deleted"`
		Total   int64            `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("purge --json: %q", out)
	}
	if res.Deleted["ceremonies"] != 2 || res.Deleted["audit_events"] != 1 || res.Total != 3 || ceremonies() != 1 {
		t.Fatalf("purge deleted %+v; %d ceremonies left", res, ceremonies())
	}
	if holder, _ := db.LeaseHolder(ctx, models.PurgeLease); holder != "" {
		t.Fatalf("lease still held by %q", holder)
	}
	code, out, _ = cliRun(t, dir, "purge")
	if code != 0 || !strings.Contains(out, "purged 0 rows") {
		t.Fatalf("second purge: %d %q", code, out)
	}
}

// TestPurgeRightAfterServerStops: a server holds the purge lease for its
// whole round; once it has stopped, `latchkey purge` runs at once instead
// of waiting up to a minute for the lease to expire.
func TestPurgeRightAfterServerStops(t *testing.T) {
	dir := t.TempDir()
	pub, internal := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", dir, "--issuer", "http://localhost:" + portOf(pub),
			"--listen", pub, "--internal-listen", internal, "--log-format", "text"}, &out, &errOut)
	}()
	waitReady(t, "http://"+internal+"/readyz")
	db := openDataDir(t, dir)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if holder, err := db.LeaseHolder(context.Background(), models.PurgeLease); err != nil {
			t.Fatal(err)
		} else if holder != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server's first purge round never took the lease")
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	if code, _, errOut := cliRun(t, dir, "purge"); code != 0 {
		t.Fatalf("purge right after the server stopped: exit %d, %q", code, errOut)
	}
}
