package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// newMemoTestDB returns a test database holding one client.
func newMemoTestDB(t *testing.T) (*DB, *Client) {
	t.Helper()
	db, _ := newTestDB(t)
	cl := &Client{Name: "app", RedirectURIs: StringList{"https://app/cb"}}
	if _, err := db.CreateClient(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
	return db, cl
}

// The per-request memo serves repeated reads of one request only: a client
// write through it clears it, and another request reads the database.
func TestRequestMemoClients(t *testing.T) {
	db, cl := newMemoTestDB(t)
	ctx := context.Background()
	req := WithRequestMemo(ctx)
	a, err := db.ClientByID(req, cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	a.Name = "mutated by a caller" // callers get copies
	other := *a
	other.Name = "renamed"
	if err := db.SaveClient(ctx, &other); err != nil { // another request
		t.Fatal(err)
	}
	if b, _ := db.ClientByID(req, cl.ID); b.Name != "app" {
		t.Fatalf("same request: name %q, want the memoised %q", b.Name, "app")
	}
	if b, _ := db.ClientByID(WithRequestMemo(ctx), cl.ID); b.Name != "renamed" {
		t.Fatalf("next request: name %q, want %q", b.Name, "renamed")
	}
	other.Name = "again"
	if err := db.SaveClient(req, &other); err != nil { // a write in the request clears its memo
		t.Fatal(err)
	}
	if b, _ := db.ClientByID(req, cl.ID); b.Name != "again" {
		t.Fatalf("after a write in the request: name %q", b.Name)
	}
}

// LiveUser refuses disabled users and ended sessions.
func TestLiveUser(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	u := &User{Username: "dave"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := &Session{UserID: u.ID, AuthTime: db.Now()}
	if _, err := db.CreateSession(ctx, sess, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := db.LiveUser(ctx, u.ID, sess.ID, true); err != nil || got.ID != u.ID {
		t.Fatalf("live: %v %v", got, err)
	}
	if _, err := db.LiveUser(ctx, u.ID, "no-such-session", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	if err := db.EndSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LiveUser(ctx, u.ID, sess.ID, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ended session: %v", err)
	}
	if _, err := db.LiveUser(ctx, u.ID, "", false); err != nil {
		t.Fatalf("no session: %v", err)
	}
	if err := db.SetUserDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LiveUser(ctx, u.ID, "", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disabled user: %v", err)
	}
}

// CreatedAuthRequest hands back, within one request only, the auth
// request that request stored — as a copy, and only under its own ID.
func TestRequestMemoCreatedAuthRequest(t *testing.T) {
	db, cl := newMemoTestDB(t)
	ctx := context.Background()
	req := WithRequestMemo(ctx)
	ar := &AuthRequest{ClientID: cl.ID, RedirectURI: "https://app/cb", ResponseType: "code", Scopes: StringList{"openid"},
		State: "st", ExpiresAt: time.Now().Add(time.Minute)}
	if err := db.CreateAuthRequest(req, ar); err != nil {
		t.Fatal(err)
	}
	got := CreatedAuthRequest(req, ar.ID)
	if got == nil || got.ID != ar.ID || got.State != "st" || got.ClientID != cl.ID {
		t.Fatalf("created request: %+v", got)
	}
	got.State = "mutated by a caller"
	if again := CreatedAuthRequest(req, ar.ID); again.State != "st" {
		t.Fatalf("callers share the memo's copy: %q", again.State)
	}
	if CreatedAuthRequest(req, "another-id") != nil || CreatedAuthRequest(WithRequestMemo(ctx), ar.ID) != nil || CreatedAuthRequest(ctx, ar.ID) != nil {
		t.Fatal("the created request leaked to another ID or request")
	}
	// A failed insert remembers nothing.
	dup := *ar
	req2 := WithRequestMemo(ctx)
	if err := db.CreateAuthRequest(req2, &dup); err == nil {
		t.Fatal("duplicate ID stored")
	}
	if CreatedAuthRequest(req2, ar.ID) != nil {
		t.Fatal("a failed insert was remembered")
	}
}
