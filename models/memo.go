package models

import (
	"context"
	"sync"
)

// requestMemo holds rows read during one HTTP request, so that the several
// layers handling it (op, idp) read each client row once. It lives in the
// request's context and dies with it: nothing is cached across requests,
// so a change to a client takes effect on the next request. Client writes
// made with a context carrying a memo clear it.
type requestMemo struct {
	mu      sync.Mutex
	clients map[string]*Client
	created *AuthRequest // the auth request this HTTP request stored
}

type memoKey struct{}

// WithRequestMemo returns ctx carrying a fresh per-request memo (used by
// ClientByID). Install it per HTTP request, never on a long-lived context.
func WithRequestMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &requestMemo{})
}

func memoFrom(ctx context.Context) *requestMemo {
	m, _ := ctx.Value(memoKey{}).(*requestMemo)
	return m
}

// memoClient returns a copy of the memoised client, or nil.
func memoClient(ctx context.Context, id string) *Client {
	m := memoFrom(ctx)
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.clients[id]; c != nil {
		cp := *c
		return &cp
	}
	return nil
}

func rememberClient(ctx context.Context, c *Client) {
	m := memoFrom(ctx)
	if m == nil {
		return
	}
	cp := *c
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clients == nil {
		m.clients = map[string]*Client{}
	}
	m.clients[c.ID] = &cp
}

// forgetClients drops the memoised clients (after a client write).
func forgetClients(ctx context.Context) {
	if m := memoFrom(ctx); m != nil {
		m.mu.Lock()
		m.clients = nil
		m.mu.Unlock()
	}
}

// rememberCreatedAuthRequest notes the auth request ctx's HTTP request
// has just stored.
func rememberCreatedAuthRequest(ctx context.Context, ar *AuthRequest) {
	if m := memoFrom(ctx); m != nil {
		cp := *ar
		m.mu.Lock()
		m.created = &cp
		m.mu.Unlock()
	}
}

// CreatedAuthRequest returns a copy of the auth request id as this HTTP
// request stored it (CreateAuthRequest with a memo), or nil. /authorize
// uses it to show the sign-in page of the request op has just stored
// without reading it back; nothing else should, since later writes to the
// request do not update it.
func CreatedAuthRequest(ctx context.Context, id string) *AuthRequest {
	m := memoFrom(ctx)
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.created == nil || m.created.ID != id {
		return nil
	}
	cp := *m.created
	return &cp
}
