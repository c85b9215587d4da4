package oidc

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// TestBackchannelDeliveryPolicy: delivery goes through the outbound
// policy even for a URL stored before registration checked it, and what an
// admin sees of a failure (audit event, outbox row) is the same whether
// the receiver's port was closed, it answered 500, or the policy refused
// the address, so a registered URL is no port scanner.
func TestBackchannelDeliveryPolicy(t *testing.T) {
	var hits atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer ok.Close()
	var failHits atomic.Int32
	fails := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		failHits.Add(1)
		http.Error(w, "internal detail", http.StatusInternalServerError)
	}))
	defer fails.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/bc"
	_ = ln.Close()

	// deliver ends a session signed in to clients with these receivers,
	// runs one delivery with p and returns what admins can read.
	deliver := func(t *testing.T, e *env, p *Provider, uris ...string) (int, []models.AuditEvent, []models.BackchannelLogout) {
		t.Helper()
		s := &models.Session{UserID: e.user.ID, AuthTime: e.clock.Now()}
		if _, err := e.db.CreateSession(e.ctx, s, time.Hour); err != nil {
			t.Fatal(err)
		}
		for _, u := range uris {
			// Stored directly, as a row written before registration
			// checked the URL would be.
			c := &models.Client{Name: u, RedirectURIs: models.StringList{"https://app.example.com/cb"}, BackchannelLogoutURI: u}
			if _, err := e.db.CreateClient(e.ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := e.db.RecordSessionClient(e.ctx, s.ID, c.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.db.EndSession(e.ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		n, err := p.DeliverBackchannelLogouts(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := e.db.AuditEvents(e.ctx, models.AuditFilter{Type: EventBackchannelLogout})
		rows, _ := e.db.BackchannelLogoutsBySession(e.ctx, s.ID)
		return n, evs, rows
	}
	// sameFailure: every failed event and row says only "delivery failed",
	// with the same detail keys.
	sameFailure := func(t *testing.T, evs []models.AuditEvent, rows []models.BackchannelLogout) {
		t.Helper()
		for _, ev := range evs {
			if ev.Success {
				continue
			}
			keys := make([]string, 0, len(ev.Detail))
			for k := range ev.Detail {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if ev.Detail["error"] != DeliveryFailed || strings.Join(keys, ",") != "attempt,error,session_id,will_retry" {
				t.Errorf("failed delivery audited as %v: more than %q", ev.Detail, DeliveryFailed)
			}
		}
		for _, r := range rows {
			if r.DeliveredAt == nil && r.LastError != DeliveryFailed {
				t.Errorf("outbox row says %q", r.LastError)
			}
		}
	}

	t.Run("issuer on https: loopback receivers refused at delivery", func(t *testing.T) {
		e := newEnv(t)
		p, err := New(e.ctx, Config{Issuer: "https://id.example.com", Now: e.clock.Now}, e.db, e.sealer)
		if err != nil {
			t.Fatal(err)
		}
		https := strings.Replace(ok.URL, "http://", "https://", 1) + "/bc"
		n, evs, rows := deliver(t, e, p, ok.URL+"/bc", https, "https://[::ffff:169.254.169.254]/", "gopher://127.0.0.1:70/_x")
		if n != 0 || hits.Load() != 0 {
			t.Fatalf("delivered %d, receiver hit %d times", n, hits.Load())
		}
		if len(evs) != 4 || len(rows) != 4 {
			t.Fatalf("%d audit events, %d rows", len(evs), len(rows))
		}
		sameFailure(t, evs, rows)
	})

	t.Run("issuer on loopback: loopback receiver gets the token, failures look alike", func(t *testing.T) {
		e := newEnv(t) // issuer http://localhost:8080
		n, evs, rows := deliver(t, e, e.p, ok.URL+"/bc", fails.URL+"/bc", closed)
		if n != 1 || hits.Load() != 1 || failHits.Load() != 1 {
			t.Fatalf("delivered %d; hits %d and %d, want 1 and 1", n, hits.Load(), failHits.Load())
		}
		if len(evs) != 3 {
			t.Fatalf("%d audit events", len(evs))
		}
		sameFailure(t, evs, rows)
	})
}
