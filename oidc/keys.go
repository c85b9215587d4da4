package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// Signing algorithms Latchkey offers. RS256 is the default (every RP
// supports it); ES256 is ~30x cheaper to sign and chosen per client.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

const (
	// keyReloadEvery bounds how stale the in-memory key set may be when
	// another instance (or `latchkey keys rotate`) changed the keys.
	keyReloadEvery = 30 * time.Second
	// unknownKIDReloadEvery rate-limits reloads triggered by tokens that
	// name a key we do not know (forged tokens must not hammer the DB).
	unknownKIDReloadEvery = 5 * time.Second
)

// key is a parsed signing key. Private keys are decrypted and parsed once
// when loaded, never per request.
type key struct {
	id          string
	alg         jose.SignatureAlgorithm
	private     crypto.Signer
	public      crypto.PublicKey
	activatesAt time.Time
	retiresAt   *time.Time
	headers     *sync.Map // typ → base64url protected header (sign); shared by copies
}

func (k *key) canSign(now time.Time) bool {
	return !now.Before(k.activatesAt) && (k.retiresAt == nil || now.Before(*k.retiresAt))
}

// keySnapshot is an immutable view of the published keys.
type keySnapshot struct {
	keys     []*key // newest activation first
	byID     map[string]*key
	jwks     []byte
	loadedAt time.Time
}

// keyring caches the published signing keys and their parsed private parts.
type keyring struct {
	db     *models.DB
	sealer *models.Sealer
	now    func() time.Time
	// lifetime is the planned key lifetime, recorded for the rotation job.
	lifetime time.Duration

	snap         atomic.Pointer[keySnapshot]
	mu           sync.Mutex // serialises reloads
	lastKIDCheck atomic.Int64
	verified     sigMemo // tokens signed or verified here (sigmemo.go)
}

func newKeyring(db *models.DB, sealer *models.Sealer, cfg Config) *keyring {
	return &keyring{db: db, sealer: sealer, now: cfg.Now, lifetime: cfg.KeyRotation}
}

// rsaPrewarm is an RSA key generated ahead of need (PrewarmKeys).
var rsaPrewarm struct {
	mu        sync.Mutex
	ch        chan *rsa.PrivateKey // each search sends its key (nil on error)
	searching int                  // searches started for ch
}

// PrewarmKeys starts generating an RSA-2048 signing key in the
// background, with searches concurrent searches (1 or 2), the first key
// found winning. `latchkey serve` calls it on a first start, before the
// migrations, so that the key is made while they run; the keyring takes
// it when it creates its first RS256 key. A key nobody takes is dropped
// with the process.
//
// The search tries fresh random candidates until two are prime (FIPS
// 186-5 B.3.3), so its time is random with a long tail: 10–235 ms here,
// median 71, p90 145 (60 trials on an idle core); two concurrent searches
// on two cores: median 47, p90 95. Which search finishes first says
// nothing about the primes it found. On SQLite a first start is that
// search plus ~15 ms (the migrations take ~30 ms in-process), so serve
// starts two; on Postgres the other core runs Postgres's DDL, the longer
// step, and a second search slowed it (first starts, median 199 → 278 ms
// over 15 alternating runs), so serve starts one, and takePrewarmedRSA
// adds the second once the DDL is done.
func PrewarmKeys(searches int) {
	rsaPrewarm.mu.Lock()
	defer rsaPrewarm.mu.Unlock()
	if rsaPrewarm.ch != nil {
		return
	}
	rsaPrewarm.ch = make(chan *rsa.PrivateKey, maxPrewarmSearches)
	startSearches(rsaPrewarm.ch, min(max(searches, 1), maxPrewarmSearches))
}

// rsaSearchesStarted counts the searches ever started (for tests).
var rsaSearchesStarted atomic.Int64

// maxPrewarmSearches bounds the concurrent searches: one per core here.
const maxPrewarmSearches = 2

// startSearches starts n RSA key searches that send to ch (locked by
// rsaPrewarm.mu).
func startSearches(ch chan *rsa.PrivateKey, n int) {
	rsaPrewarm.searching += n
	rsaSearchesStarted.Add(int64(n))
	for range n {
		go func() {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				k = nil
			}
			ch <- k // buffered: a losing search never blocks
		}()
	}
}

// takePrewarmedRSA returns the prewarmed key (waiting for it if it is
// being generated) or nil; a key is handed out once. If no search has
// finished yet, it starts the second search PrewarmKeys did not (the
// losing search runs on to its end in the background).
func takePrewarmedRSA(ctx context.Context) *rsa.PrivateKey {
	rsaPrewarm.mu.Lock()
	ch, n := rsaPrewarm.ch, rsaPrewarm.searching
	if ch != nil && len(ch) == 0 && n < maxPrewarmSearches {
		startSearches(ch, maxPrewarmSearches-n)
		n = maxPrewarmSearches
	}
	rsaPrewarm.ch, rsaPrewarm.searching = nil, 0
	rsaPrewarm.mu.Unlock()
	for range n {
		select {
		case k := <-ch:
			if k != nil {
				return k
			}
		case <-ctx.Done():
			return nil
		}
	}
	return nil // every search failed, or none ran: create generates its own
}

// signingKeyAdapter exposes a key as op.SigningKey (private part).
type signingKeyAdapter struct{ k *key }

func (a signingKeyAdapter) SignatureAlgorithm() jose.SignatureAlgorithm { return a.k.alg }
func (a signingKeyAdapter) Key() any                                    { return a.k.private }
func (a signingKeyAdapter) ID() string                                  { return a.k.id }

// publicKeyAdapter exposes a key as op.Key (public part, for JWKS).
type publicKeyAdapter struct{ k *key }

func (a publicKeyAdapter) ID() string                         { return a.k.id }
func (a publicKeyAdapter) Algorithm() jose.SignatureAlgorithm { return a.k.alg }
func (a publicKeyAdapter) Use() string                        { return "sig" }
func (a publicKeyAdapter) Key() any                           { return a.k.public }

var (
	_ op.SigningKey = signingKeyAdapter{}
	_ op.Key        = publicKeyAdapter{}
	_ oidc.KeySet   = (*keyring)(nil)
)

// ensure loads the keys and creates an active RS256 and ES256 key when
// one is missing. Any key that cannot be decrypted is an error (wrong
// master key).
func (kr *keyring) ensure(ctx context.Context) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return kr.ensureLocked(ctx, true)
}

func (kr *keyring) ensureLocked(ctx context.Context, strict bool) error {
	if err := kr.reloadLocked(ctx, strict); err != nil {
		return err
	}
	now := kr.now()
	created := false
	for _, alg := range signingAlgs {
		if kr.activeKey(alg, now) != nil {
			continue
		}
		if _, err := kr.create(ctx, alg, now); err != nil {
			return err
		}
		created = true
	}
	if created {
		return kr.reloadLocked(ctx, strict)
	}
	return nil
}

// reloadLocked reads the published keys; keys already parsed are reused.
func (kr *keyring) reloadLocked(ctx context.Context, strict bool) error {
	rows, err := kr.db.PublishedSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	old := kr.snap.Load()
	s := &keySnapshot{byID: make(map[string]*key, len(rows)), loadedAt: kr.now()}
	var jwks jose.JSONWebKeySet
	for i := range rows {
		row := &rows[i]
		var k *key
		if old != nil && old.byID[row.ID] != nil {
			prev := *old.byID[row.ID]
			prev.activatesAt, prev.retiresAt = row.ActivatesAt, row.RetiresAt
			k = &prev
		} else if k, err = kr.parse(row); err != nil {
			if strict {
				return err
			}
			slog.ErrorContext(ctx, "skipping unusable signing key", "kid", row.ID, "error", err)
			continue
		}
		s.keys = append(s.keys, k)
		s.byID[k.id] = k
		jwks.Keys = append(jwks.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.id, Algorithm: string(k.alg), Use: "sig"})
	}
	if s.jwks, err = json.Marshal(jwks); err != nil {
		return fmt.Errorf("encode JWKS: %w", err)
	}
	kr.snap.Store(s)
	return nil
}

// parse decrypts and parses one stored key. The sealed private key is
// bound to its kid (AAD) so rows cannot be swapped.
func (kr *keyring) parse(row *models.SigningKey) (*key, error) {
	der, err := kr.sealer.Open(row.PrivateKeyEnc, []byte(row.ID))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", row.ID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: parse private key: %w", row.ID, err)
	}
	pub, err := x509.ParsePKIXPublicKey(row.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: parse public key: %w", row.ID, err)
	}
	alg := jose.SignatureAlgorithm(row.Algorithm)
	var okType bool
	switch alg {
	case jose.RS256:
		_, okType = priv.(*rsa.PrivateKey)
	case jose.ES256:
		ec, isEC := priv.(*ecdsa.PrivateKey)
		okType = isEC && ec.Curve == elliptic.P256()
	}
	signer, isSigner := priv.(crypto.Signer)
	if !okType || !isSigner {
		return nil, fmt.Errorf("signing key %s: key type does not match algorithm %q", row.ID, row.Algorithm)
	}
	return &key{id: row.ID, alg: alg, private: signer, public: pub, activatesAt: row.ActivatesAt, retiresAt: row.RetiresAt, headers: new(sync.Map)}, nil
}

// create generates, seals and stores a key that signs from activatesAt.
func (kr *keyring) create(ctx context.Context, alg jose.SignatureAlgorithm, activatesAt time.Time) (string, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		if k := takePrewarmedRSA(ctx); k != nil {
			priv = k
		} else {
			priv, err = rsa.GenerateKey(rand.Reader, 2048)
		}
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return "", fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return "", fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return "", err
	}
	kid := models.NewUUID()
	row := &models.SigningKey{
		ID:            kid,
		Algorithm:     string(alg),
		PrivateKeyEnc: kr.sealer.Seal(der, []byte(kid)),
		PublicKey:     pub,
		CreatedAt:     kr.now().UTC(),
		ActivatesAt:   activatesAt.UTC(),
	}
	if err := kr.db.CreateSigningKey(ctx, row); err != nil {
		return "", err
	}
	return kid, nil
}

// activeKey returns the newest key of alg that may sign at now, or nil.
func (kr *keyring) activeKey(alg jose.SignatureAlgorithm, now time.Time) *key {
	s := kr.snap.Load()
	if s == nil {
		return nil
	}
	var best *key
	for _, k := range s.keys {
		if k.alg == alg && k.canSign(now) && (best == nil || k.activatesAt.After(best.activatesAt)) {
			best = k
		}
	}
	return best
}

// maybeRefresh reloads the key set when it is older than keyReloadEvery,
// creating a missing active key. One caller reloads; the others keep using
// the current snapshot.
func (kr *keyring) maybeRefresh(ctx context.Context) {
	s := kr.snap.Load()
	if s != nil && kr.now().Sub(s.loadedAt) < keyReloadEvery {
		return
	}
	if !kr.mu.TryLock() {
		return
	}
	defer kr.mu.Unlock()
	if err := kr.ensureLocked(ctx, false); err != nil {
		slog.ErrorContext(ctx, "refresh signing keys", "error", err)
	}
}

// signingKey returns the active key for alg (RS256 when alg is empty or
// has no active key).
func (kr *keyring) signingKey(ctx context.Context, alg jose.SignatureAlgorithm) (*key, error) {
	kr.maybeRefresh(ctx)
	now := kr.now()
	if alg == "" {
		alg = jose.RS256
	}
	if k := kr.activeKey(alg, now); k != nil {
		return k, nil
	}
	if k := kr.activeKey(jose.RS256, now); k != nil {
		return k, nil
	}
	return nil, errors.New("no active signing key")
}

// published returns every key in JWKS (next, current and previous).
func (kr *keyring) published(ctx context.Context) []*key {
	kr.maybeRefresh(ctx)
	if s := kr.snap.Load(); s != nil {
		return s.keys
	}
	return nil
}

// jwks returns the precomputed JWKS document.
func (kr *keyring) jwks(ctx context.Context) []byte {
	kr.maybeRefresh(ctx)
	if s := kr.snap.Load(); s != nil {
		return s.jwks
	}
	return []byte(`{"keys":[]}`)
}

// VerifySignature implements oidc.KeySet for id_token_hint and JWT access
// token verification. An unknown kid triggers a (rate-limited) reload, so
// keys created by another instance are accepted at once.
func (kr *keyring) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	kid, alg := oidc.GetKeyIDAndAlg(jws)
	kr.maybeRefresh(ctx)
	k := kr.lookup(kid)
	if k == nil {
		now := kr.now().UnixNano()
		last := kr.lastKIDCheck.Load()
		if now-last >= int64(unknownKIDReloadEvery) && kr.lastKIDCheck.CompareAndSwap(last, now) {
			kr.mu.Lock()
			err := kr.reloadLocked(ctx, false)
			kr.mu.Unlock()
			if err != nil {
				return nil, err
			}
			k = kr.lookup(kid)
		}
	}
	if k == nil {
		return nil, fmt.Errorf("unknown signing key %q", kid)
	}
	if alg != "" && alg != string(k.alg) {
		return nil, fmt.Errorf("key %q is %s, token says %s", kid, k.alg, alg)
	}
	compact, err := jws.CompactSerialize()
	if err == nil && kr.verified.known(compact, k.id) {
		return jws.UnsafePayloadWithoutVerification(), nil
	}
	payload, err := jws.Verify(k.public)
	if err == nil && compact != "" {
		kr.verified.remember(compact, k.id)
	}
	return payload, err
}

func (kr *keyring) lookup(kid string) *key {
	s := kr.snap.Load()
	if s == nil || kid == "" {
		return nil
	}
	return s.byID[kid]
}

// rotate creates new RS256 and ES256 keys that sign from now, and retires
// every other key now; retired keys stay published for maxLifetime so
// tokens they signed can still be verified, then expire.
func (kr *keyring) rotate(ctx context.Context, maxLifetime time.Duration) (created, retired []string, err error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	now := kr.now()
	for _, alg := range signingAlgs {
		kid, err := kr.create(ctx, alg, now)
		if err != nil {
			return created, nil, err
		}
		created = append(created, kid)
	}
	rows, err := kr.db.PublishedSigningKeys(ctx)
	if err != nil {
		return created, nil, err
	}
	for _, row := range rows {
		if row.RetiresAt != nil || row.ID == created[0] || row.ID == created[1] {
			continue
		}
		if err := kr.db.RetireSigningKey(ctx, row.ID, now, now.Add(maxLifetime)); err != nil {
			return created, retired, err
		}
		retired = append(retired, row.ID)
	}
	if err := kr.db.DeleteExpiredSigningKeys(ctx); err != nil {
		return created, retired, err
	}
	return created, retired, kr.reloadLocked(ctx, false)
}
