package oidc

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

func TestSigningKeyPerClient(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		client *models.Client
		want   jose.SignatureAlgorithm
	}{
		{"no client", nil, jose.RS256},
		{"RS256 client", e.conf, jose.RS256},
		{"ES256 client", e.pub, jose.ES256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := e.s.SigningKey(e.ctx)
			if tc.client != nil {
				k, err = e.s.forClient(tc.client).SigningKey(e.ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.SignatureAlgorithm() != tc.want || k.ID() == "" {
				t.Fatalf("alg = %s, want %s", k.SignatureAlgorithm(), tc.want)
			}
			if _, err := op.SignerFromKey(k); err != nil {
				t.Fatal(err)
			}
		})
	}
	algs, _ := e.s.SignatureAlgorithms(e.ctx)
	if len(algs) != 2 || algs[0] != jose.RS256 || algs[1] != jose.ES256 {
		t.Fatalf("algorithms %v", algs)
	}
}

func TestKeysStoredEncrypted(t *testing.T) {
	e := newEnv(t)
	var rows []models.SigningKey
	if err := e.db.Gorm().Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d keys stored, want 2", len(rows))
	}
	for _, r := range rows {
		if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKeyEnc); err == nil {
			t.Fatalf("key %s stored in the clear", r.ID)
		}
		if _, err := x509.ParsePKIXPublicKey(r.PublicKey); err != nil {
			t.Fatalf("public key %s: %v", r.ID, err)
		}
		// bound to its kid
		if _, err := e.sealer.Open(r.PrivateKeyEnc, []byte("other")); err == nil {
			t.Fatal("sealed key opens with a different kid")
		}
	}
	// a second instance reuses the same keys and crypto key
	p2, err := New(e.ctx, Config{Issuer: testIssuer, Now: e.clock.Now}, e.db, e.sealer)
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.storage.keys.published(e.ctx)) != 2 {
		t.Fatal("second instance created new keys")
	}
	// the wrong master key is refused at start
	other := make([]byte, 32)
	other[0] = 1
	bad, _ := models.NewSealer(other)
	if _, err := New(e.ctx, Config{Issuer: testIssuer, Now: e.clock.Now}, e.db, bad); err == nil {
		t.Fatal("wrong master key accepted")
	}
}

func TestRotateKeys(t *testing.T) {
	e := newEnv(t)
	before, _ := e.s.SigningKey(e.ctx)
	if err := e.p.RotateKeys(e.ctx, ""); err != nil {
		t.Fatal(err)
	}
	after, _ := e.s.SigningKey(e.ctx)
	if after.ID() == before.ID() {
		t.Fatal("signing key did not change")
	}
	ids := func() map[string]bool {
		ks, _ := e.s.KeySet(e.ctx)
		m := map[string]bool{}
		for _, k := range ks {
			m[k.ID()] = true
		}
		return m
	}
	if got := ids(); len(got) != 4 || !got[before.ID()] || !got[after.ID()] {
		t.Fatalf("published after rotation: %v", got)
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(e.s.keys.jwks(e.ctx), &jwks); err != nil || len(jwks.Keys) != 4 {
		t.Fatalf("jwks: %v %d", err, len(jwks.Keys))
	}
	// the old key leaves JWKS once every token it signed has expired
	e.clock.Advance(time.Hour + time.Minute)
	if got := ids(); len(got) != 2 || got[before.ID()] {
		t.Fatalf("published after expiry: %v", got)
	}
	evs, _ := e.db.AuditEvents(e.ctx, models.AuditFilter{Type: models.EventKeyRotated})
	if len(evs) != 1 {
		t.Fatalf("audit %v", evs)
	}
}

func TestKeySetPicksUpOtherInstanceKeys(t *testing.T) {
	e := newEnv(t)
	p2, err := New(e.ctx, Config{Issuer: testIssuer, Now: e.clock.Now}, e.db, e.sealer)
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.RotateKeys(e.ctx, ""); err != nil {
		t.Fatal(err)
	}
	newKey, _ := p2.storage.SigningKey(e.ctx)
	// a token signed by instance 2 with a kid instance 1 has not seen yet
	signer, err := op.SignerFromKey(newKey)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	compact, _ := jws.CompactSerialize()
	parsed, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.keys.VerifySignature(e.ctx, parsed); err != nil {
		t.Fatalf("unknown kid not reloaded: %v", err)
	}
	// within 30 s instance 1 signs with its cached key; afterwards with the new one
	e.clock.Advance(31 * time.Second)
	k, _ := e.s.SigningKey(e.ctx)
	if k.ID() != newKey.ID() {
		t.Fatalf("instance 1 signs with %s, want %s", k.ID(), newKey.ID())
	}
}

// A prewarmed RSA key is handed out once, whole, whether one or two
// searches made it; without a prewarm the keyring generates its own.
func TestPrewarmKeys(t *testing.T) {
	ctx := context.Background()
	if k := takePrewarmedRSA(ctx); k != nil {
		t.Fatal("a key was handed out without PrewarmKeys")
	}
	for _, searches := range []int{1, 2} {
		started := rsaSearchesStarted.Load()
		PrewarmKeys(searches)
		PrewarmKeys(searches) // a second call while one is pending starts nothing new
		if rsaPrewarm.searching != searches {
			t.Fatalf("PrewarmKeys(%d) started %d searches", searches, rsaPrewarm.searching)
		}
		k := takePrewarmedRSA(ctx)
		if k == nil || k.N.BitLen() != 2048 || k.Validate() != nil {
			t.Fatalf("prewarmed key = %v", k)
		}
		// Taken at once, before any search could finish (each takes
		// milliseconds): a lone search got its second.
		if n := rsaSearchesStarted.Load() - started; n != maxPrewarmSearches {
			t.Fatalf("PrewarmKeys(%d) and an immediate take started %d searches, want %d", searches, n, maxPrewarmSearches)
		}
		if again := takePrewarmedRSA(ctx); again != nil {
			t.Fatal("the prewarmed key was handed out twice")
		}
	}
}
