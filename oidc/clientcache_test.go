package oidc

import (
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// TestClientCache: a token request reads its client from memory while it
// is fresh; a change through the same database drops it at once; the
// cache never holds more than its size.
func TestClientCache(t *testing.T) {
	e := newEnv(t)
	c1, err := e.s.loadClient(e.ctx, e.conf.ID)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := e.s.loadClient(e.ctx, e.conf.ID)
	if err != nil || c2 != c1 {
		t.Fatalf("second load was not served from the cache: %p %p %v", c1, c2, err)
	}
	// A rotated secret is seen at once.
	secret, err := e.db.RotateClientSecret(e.ctx, e.conf.ID)
	if err != nil {
		t.Fatal(err)
	}
	c3, err := e.s.loadClient(e.ctx, e.conf.ID)
	if err != nil || c3 == c1 || !c3.CheckSecret(secret) || c3.CheckSecret(e.secret) {
		t.Fatalf("after rotating the secret: %v", err)
	}
	// A deleted client is unknown at once.
	if err := e.db.DeleteClient(e.ctx, e.conf.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.loadClient(e.ctx, e.conf.ID); err == nil {
		t.Fatal("deleted client still loads")
	}
	// Bounded: full, it starts again empty.
	cc := newClientCache(2)
	for _, c := range []string{"a", "b", "c"} {
		cc.put(&models.Client{ID: c}, 0)
	}
	if len(cc.m) != 1 {
		t.Fatalf("cache of 2 holds %d", len(cc.m))
	}
	if _, ok := cc.get("c", 0); !ok {
		t.Fatal("the last client put is not there")
	}
	if _, ok := cc.get("c", 1); ok {
		t.Fatal("an entry of another version is served")
	}
	if newClientCache(-1) != nil {
		t.Fatal("a negative size makes a cache")
	}
}
