package main

import (
	"context"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// groups update NAME --recovery=off|on sets groups.recovery_disabled,
// audits a change once (not a repeat), and refuses an unknown group or a
// value other than off and on without changing anything.
func TestCLIGroupsRecovery(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if code, _, errOut := cliRun(t, dir, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	db, err := models.Open(ctx, models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	g, err := db.CreateGroup(ctx, "Contractors")
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	recoveryOff := func() bool {
		t.Helper()
		db, err := models.Open(ctx, models.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()
		got, err := db.GroupByID(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.RecoveryDisabled
	}
	audits := func() []models.AuditEvent {
		t.Helper()
		db, err := models.Open(ctx, models.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()
		evs, err := db.AuditEvents(ctx, models.AuditFilter{Type: models.EventGroupUpdated})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}

	if code, _, errOut := cliRun(t, dir, "groups", "update", "Contractors", "--recovery", "maybe"); code == 0 || !strings.Contains(errOut, `"off","on"`) {
		t.Fatalf("--recovery=maybe: %d %q", code, errOut)
	}
	if code, _, errOut := cliRun(t, dir, "groups", "update", "nobody", "--recovery", "off"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("unknown group: %d %q", code, errOut)
	}
	if recoveryOff() || len(audits()) != 0 {
		t.Fatal("a refused command changed something")
	}
	code, out, errOut := cliRun(t, dir, "groups", "update", "Contractors", "--recovery", "off")
	if code != 0 || !strings.Contains(out, "recovery off") {
		t.Fatalf("off: %d %q %q", code, out, errOut)
	}
	if !recoveryOff() {
		t.Fatal("recovery still on")
	}
	// Again: no change, no second audit event.
	if code, _, errOut = cliRun(t, dir, "groups", "update", "Contractors", "--recovery=off", "--json"); code != 0 {
		t.Fatalf("off again: %d %q", code, errOut)
	}
	evs := audits()
	if len(evs) != 1 || evs[0].ActorID != "cli" || evs[0].Detail["recovery_disabled"] != true || evs[0].Detail["group"] != g.ID {
		t.Fatalf("audit after off: %+v", evs)
	}
	if code, out, errOut = cliRun(t, dir, "groups", "update", "Contractors", "--recovery=on", "--json"); code != 0 || !strings.Contains(out, `"recovery_disabled": false`) {
		t.Fatalf("on: %d %q %q", code, out, errOut)
	}
	if recoveryOff() || len(audits()) != 2 {
		t.Fatal("recovery not back on, or not audited")
	}
}
