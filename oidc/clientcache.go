package oidc

import (
	"sync"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// clientCache keeps client rows in memory for clientCacheTTL, so that a
// token request does not read its client from the database each time
// (one of three statements of a refresh grant). A change made through
// this process's database handle (models.ClientStore.ClientsVersion)
// drops every entry at once; another instance's change is seen within
// clientCacheTTL. Unknown clients are not cached. It holds at most max
// entries: when full it starts again empty.
type clientCache struct {
	mu  sync.Mutex
	max int
	m   map[string]cachedClient
}

type cachedClient struct {
	c       *models.Client // read only: shared by the requests that get it
	at      time.Time
	version int64
}

// clientCacheTTL bounds how long another instance's change to a client
// (a rotated secret, a deleted client) can go unseen here.
const clientCacheTTL = time.Second

// DefaultClientCacheSize is Config.ClientCacheSize's default.
const DefaultClientCacheSize = 1024

func newClientCache(size int) *clientCache {
	if size <= 0 {
		return nil
	}
	return &clientCache{max: size, m: make(map[string]cachedClient, min(size, 64))}
}

// get returns the cached client id if it is fresh and version is the one
// it was cached at. A nil cache holds nothing.
func (cc *clientCache) get(id string, version int64) (*models.Client, bool) {
	if cc == nil {
		return nil, false
	}
	cc.mu.Lock()
	e, ok := cc.m[id]
	cc.mu.Unlock()
	if !ok || e.version != version || time.Since(e.at) >= clientCacheTTL {
		return nil, false
	}
	return e.c, true
}

func (cc *clientCache) put(c *models.Client, version int64) {
	if cc == nil {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.m) >= cc.max {
		clear(cc.m)
	}
	cc.m[c.ID] = cachedClient{c: c, at: time.Now(), version: version}
}
