package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The per-request memo serves repeated reads of one request only: a client
// write through it clears it, and another request reads the database.
func TestRequestMemoClients(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	cl := &Client{Name: "app", RedirectURIs: StringList{"https://app/cb"}}
	if _, err := db.CreateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
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
