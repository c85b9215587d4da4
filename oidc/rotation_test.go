package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// countingTransport counts JWKS downloads.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestScheduledKeyRotation(t *testing.T) {
	e, srv := newHTTPEnv(t)
	rotation := e.p.cfg.KeyRotation
	if rotation != 30*24*time.Hour {
		t.Fatalf("default rotation %s", rotation)
	}
	lead := publishLead(rotation)
	jwksKIDs := func() map[string]bool {
		t.Helper()
		resp, err := http.Get(srv.URL + "/keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set jose.JSONWebKeySet
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, k := range set.Keys {
			m[k.KeyID] = true
		}
		return m
	}
	// sign returns a token signed as op would sign an ID token for c.
	sign := func(c *models.Client) (string, string) {
		t.Helper()
		k, err := e.s.SigningKey(e.ctx)
		if c != nil {
			k, err = e.s.forClient(c).SigningKey(e.ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		signer, err := op.SignerFromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign([]byte(`{"iss":"x","sub":"y"}`))
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s, k.ID()
	}
	maintain := func() {
		t.Helper()
		if err := e.p.MaintainKeys(e.ctx); err != nil {
			t.Fatal(err)
		}
	}

	// The RP: go-oidc's RemoteKeySet, with a transport that counts
	// downloads of the JWKS.
	tr := &countingTransport{}
	keySet := gooidc.NewRemoteKeySet(gooidc.ClientContext(context.Background(), &http.Client{Transport: tr}), srv.URL+"/keys")
	verify := func(tok string) error {
		_, err := keySet.VerifySignature(context.Background(), tok)
		return err
	}

	start := jwksKIDs()
	if len(start) != 2 {
		t.Fatalf("initial JWKS %v", start)
	}
	maintain() // nothing is due yet
	if got := jwksKIDs(); len(got) != 2 {
		t.Fatalf("rotation before it was due: %v", got)
	}
	tokRS0, kidRS0 := sign(nil)
	tokES0, kidES0 := sign(e.pub)
	if err := verify(tokRS0); err != nil {
		t.Fatal(err)
	}

	// Due within the publish lead: the next keys are published, not used.
	e.clock.Advance(rotation - lead + time.Minute)
	maintain()
	maintain() // idempotent: no second pair
	published := jwksKIDs()
	if len(published) != 4 {
		t.Fatalf("JWKS after publication %v, want 4 keys", published)
	}
	tok, kid := sign(nil)
	if kid != kidRS0 {
		t.Fatal("the next key signed before its activation")
	}
	if _, kidES := sign(e.pub); kidES != kidES0 {
		t.Fatal("the next ES256 key signed before its activation")
	}
	// The RP refreshes its cache once in this period (its first unknown
	// kid, as go-oidc does, or its own schedule)…
	if err := verify(tok); err != nil {
		t.Fatal(err)
	}
	tr.n.Store(0)
	forceRefresh := gooidc.NewRemoteKeySet(gooidc.ClientContext(context.Background(), &http.Client{Transport: tr}), srv.URL+"/keys")
	if _, err := forceRefresh.VerifySignature(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	keySet = forceRefresh
	fetches := tr.n.Load()

	// Just before activation the old keys still sign.
	e.clock.Advance(lead - 2*time.Minute)
	if _, kid := sign(nil); kid != kidRS0 {
		t.Fatal("switched before the activation time")
	}
	// After activation: new kid, and the cached JWKS already has it.
	e.clock.Advance(2 * time.Minute)
	tokRS1, kidRS1 := sign(nil)
	tokES1, kidES1 := sign(e.pub)
	if kidRS1 == kidRS0 || kidES1 == kidES0 || !published[kidRS1] || !published[kidES1] {
		t.Fatalf("after activation kids %s %s; published before: %v", kidRS1, kidES1, published)
	}
	for name, tk := range map[string]string{"old RS256": tokRS0, "old ES256": tokES0, "new RS256": tokRS1, "new ES256": tokES1} {
		if err := verify(tk); err != nil {
			t.Fatalf("cached JWKS cannot verify the %s token: %v", name, err)
		}
	}
	if n := tr.n.Load(); n != fetches {
		t.Fatalf("the RP had to download the JWKS again (%d→%d): the new key was not published in time", fetches, n)
	}
	// The keys it replaced retire but stay published while their tokens live.
	maintain()
	if got := jwksKIDs(); !got[kidRS0] || !got[kidES0] || len(got) != 4 {
		t.Fatalf("old keys left JWKS too early: %v", got)
	}
	e.clock.Advance(e.p.cfg.maxTokenLifetime() - time.Minute)
	maintain()
	if got := jwksKIDs(); !got[kidRS0] {
		t.Fatal("old key removed while its tokens may still be valid")
	}
	// …and leave once every token they signed has expired.
	e.clock.Advance(retireMargin + 2*time.Minute)
	maintain()
	got := jwksKIDs()
	if got[kidRS0] || got[kidES0] || !got[kidRS1] || !got[kidES1] || len(got) != 2 {
		t.Fatalf("JWKS after expiry %v", got)
	}
	var n int64
	e.db.Gorm().Model(&models.SigningKey{}).Count(&n)
	if n != 2 {
		t.Fatalf("%d signing keys stored after the old ones expired, want 2", n)
	}
	evs, _ := e.db.AuditEvents(e.ctx, models.AuditFilter{Type: models.EventKeyRotated})
	if len(evs) < 2 {
		t.Fatalf("scheduled rotation audited %d times", len(evs))
	}

	// The next round follows the same schedule from the new key's start.
	e.clock.Advance(rotation - lead - e.p.cfg.maxTokenLifetime())
	maintain()
	if got := jwksKIDs(); len(got) != 4 {
		t.Fatalf("second rotation not published: %v", got)
	}
}

func TestPublishLead(t *testing.T) {
	if publishLead(30*24*time.Hour) != 24*time.Hour || publishLead(48*time.Hour) != 12*time.Hour {
		t.Fatal("publish lead")
	}
}
