package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCredentialHookSharesTheTransaction: what the hook writes commits
// with the passkey change, and its error rolls the change back (the
// passkey, the consumed setup link and the hook's own write).
func TestCredentialHookSharesTheTransaction(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	u := &User{Username: "hana", Email: "hana@example.com"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	fail := errors.New("hook failed")
	var seen []CredentialChange
	failing := true
	db.OnCredentialChange(func(ctx context.Context, tx *DB, ch CredentialChange) error {
		seen = append(seen, ch)
		if err := tx.QueueMail(ctx, &OutboxMessage{Kind: "k", UserID: u.ID, Recipient: u.Email, Subject: "s", Body: []byte{1}}); err != nil {
			return err
		}
		if failing {
			return fail
		}
		return nil
	})
	_, st, err := db.CreateSetupToken(ctx, u.ID, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	cred := &Credential{UserID: u.ID, Name: "Key", CredentialID: []byte{1}, PublicKey: []byte{2}, CreatedAt: clock.Now()}
	if err := db.AddCredentialWithSetupToken(ctx, cred, st.ID); !errors.Is(err, fail) {
		t.Fatalf("add with a failing hook: %v", err)
	}
	creds, _ := db.CredentialsByUser(ctx, u.ID)
	mail, _ := db.RecentMailForUser(ctx, u.ID, 10)
	if len(creds) != 0 || len(mail) != 0 {
		t.Fatalf("after the rollback: %d passkeys, %d messages", len(creds), len(mail))
	}
	failing = false
	cred.ID = ""
	if err := db.AddCredentialWithSetupToken(ctx, cred, st.ID); err != nil {
		t.Fatalf("the setup link was consumed by the rolled-back attempt: %v", err)
	}
	failing = true
	if err := db.DeleteCredential(ctx, u.ID, cred.ID); !errors.Is(err, fail) {
		t.Fatalf("delete with a failing hook: %v", err)
	}
	if creds, _ := db.CredentialsByUser(ctx, u.ID); len(creds) != 1 {
		t.Fatalf("the passkey was deleted although the hook failed")
	}
	failing = false
	if err := db.DeleteCredential(ctx, u.ID, cred.ID); err != nil {
		t.Fatal(err)
	}
	mail, _ = db.RecentMailForUser(ctx, u.ID, 10)
	if len(mail) != 2 || len(seen) != 4 || !seen[1].Added || seen[3].Added || seen[3].Credential.Name != "Key" {
		t.Fatalf("%d messages, changes %+v", len(mail), seen)
	}
}
