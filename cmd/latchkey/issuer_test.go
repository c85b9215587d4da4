package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
)

// TestCLIRemembersTheIssuer: serve records its issuer; the other commands
// print URLs on it without --issuer; a start on another host is refused
// (passkeys are bound to the host) unless --accept-new-issuer, which is
// audited; serve without --issuer runs on the recorded one.
func TestCLIRemembersTheIssuer(t *testing.T) {
	dir := t.TempDir()
	pub, internal := freeAddr(t), freeAddr(t)
	first := "http://localhost:" + portOf(pub)
	// serve runs until ready and is stopped; it returns the issuer that
	// discovery announced.
	serve := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		var out, errOut syncBuffer
		done := make(chan int)
		go func() {
			done <- run(ctx, append([]string{"serve", "--data-dir", dir, "--listen", pub, "--internal-listen", internal, "--log-format", "text"}, args...), &out, &errOut)
		}()
		waitReady(t, "http://"+internal+"/readyz")
		resp, err := http.Get("http://" + pub + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Issuer string }
		err = json.NewDecoder(resp.Body).Decode(&doc)
		_ = resp.Body.Close()
		cancel()
		if code := <-done; code != 0 || err != nil {
			t.Fatalf("serve %q exited %d (%v): %s", args, code, err, errOut.String())
		}
		return doc.Issuer
	}
	setupURL := func(args ...string) string {
		t.Helper()
		code, out, errOut := cliRun(t, dir, append([]string{"users", "setup-link", "rita", "--json"}, args...)...)
		var v struct {
			SetupURL string `json:"setup_url"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("setup-link: %d %s %s", code, out, errOut)
		}
		return v.SetupURL
	}

	// Before any start the CLI uses the documented default.
	if code, out, errOut := cliRun(t, dir, "users", "add", "--username", "rita", "--json"); code != 0 || !strings.Contains(out, `"http://localhost:8080/setup/`) {
		t.Fatalf("users add before a start: %d %s %s", code, out, errOut)
	}
	if got := serve("--issuer", first); got != first {
		t.Fatalf("discovery issuer %q, want %q", got, first)
	}
	if u := setupURL(); !strings.HasPrefix(u, first+"/setup/") {
		t.Fatalf("setup link %q is not on the recorded issuer %s", u, first)
	}
	code, out, errOut := cliRun(t, dir, "clients", "add", "--name", "App", "--redirect-uri", "http://localhost:9/cb", "--json")
	if code != 0 || !strings.Contains(out, `"discovery_url": "`+first+`/.well-known/openid-configuration"`) {
		t.Fatalf("clients add: %d %s %s", code, out, errOut)
	}
	// --issuer still wins for one command.
	if u := setupURL("--issuer", "https://id.example.com"); !strings.HasPrefix(u, "https://id.example.com/setup/") {
		t.Fatalf("setup link with --issuer: %q", u)
	}

	// Another host: refused, with what to do, and nothing recorded.
	moved := "http://id.localhost:" + portOf(pub)
	code, _, errOut = cliRun(t, dir, "serve", "--issuer", moved, "--listen", pub, "--internal-listen", internal)
	if code == 0 || !strings.Contains(errOut, "--accept-new-issuer") || !strings.Contains(errOut, first) || !strings.Contains(errOut, `"localhost"`) {
		t.Fatalf("serve on another host: %d %s", code, errOut)
	}
	if u := setupURL(); !strings.HasPrefix(u, first+"/setup/") {
		t.Fatalf("a refused start changed the recorded issuer: %q", u)
	}
	// The same host on another port is the same RP ID: no flag needed.
	samePort := "http://localhost:" + portOf(internal)
	if got := serve("--issuer", samePort); got != samePort {
		t.Fatalf("discovery issuer %q, want %q", got, samePort)
	}

	// Accepted: it starts, records the new issuer and audits the change.
	if got := serve("--issuer", moved, "--accept-new-issuer"); got != moved {
		t.Fatalf("discovery issuer %q, want %q", got, moved)
	}
	if u := setupURL(); !strings.HasPrefix(u, moved+"/setup/") {
		t.Fatalf("setup link %q after the accepted move", u)
	}
	// Without --issuer, serve runs on the recorded issuer.
	if got := serve(); got != moved {
		t.Fatalf("serve without --issuer announced %q, want the recorded %q", got, moved)
	}
	db, err := command.OpenDB(context.Background(), "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	events, err := db.AuditEvents(context.Background(), models.AuditFilter{Type: "issuer_changed", Limit: 10})
	if err != nil || len(events) != 2 || events[0].Detail["old_issuer"] != samePort || events[0].Detail["new_issuer"] != moved ||
		events[1].Detail["old_issuer"] != first || events[1].Detail["new_issuer"] != samePort {
		t.Fatalf("issuer_changed audit events: %v %+v", err, events)
	}
}
