package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSignupLinkUses: a link allows exactly its uses; expired, revoked
// and used-up links are told apart; bad values are refused.
func TestSignupLinkUses(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	for _, bad := range []struct {
		uses int
		ttl  time.Duration
	}{{0, time.Hour}, {MaxSignupLinkUses + 1, time.Hour}, {1, time.Second}, {1, 367 * 24 * time.Hour}} {
		if _, _, err := db.CreateSignupLink(ctx, bad.uses, bad.ttl, "t"); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateSignupLink(%d, %s) = %v", bad.uses, bad.ttl, err)
		}
	}
	raw, l, err := db.CreateSignupLink(ctx, 2, time.Hour, "t")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := db.SpendSignupLink(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SpendSignupLink(ctx, l.ID); !errors.Is(err, ErrUsedUp) {
		t.Fatalf("third use: %v", err)
	}
	if _, err := db.SignupLinkByRaw(ctx, raw); !errors.Is(err, ErrUsedUp) {
		t.Fatalf("used-up link: %v", err)
	}
	raw2, l2, _ := db.CreateSignupLink(ctx, 2, time.Hour, "t")
	if err := db.RevokeSignupLink(ctx, l2.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeSignupLink(ctx, l2.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := db.SignupLinkByRaw(ctx, raw2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked link: %v", err)
	}
	if err := db.SpendSignupLink(ctx, l2.ID); !errors.Is(err, ErrUsedUp) {
		t.Fatalf("spend a revoked link: %v", err)
	}
	raw3, _, _ := db.CreateSignupLink(ctx, 2, time.Hour, "t")
	clock.Advance(time.Hour)
	if _, err := db.SignupLinkByRaw(ctx, raw3); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired link: %v", err)
	}
	if _, err := db.SignupLinkByRaw(ctx, "lku_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown link: %v", err)
	}
}

// TestPurgeSignups: an unverified sign-up whose link expired goes with its
// account (setup links, mail); one with a passkey, a live one and a
// verified account stay; dead sign-up links and used recovery codes go.
func TestPurgeSignups(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	now := clock.Now()
	mk := func(name string, expires time.Time) *User {
		t.Helper()
		u := &User{Username: name, Email: name + "@example.com"}
		if err := db.CreateSignupAccount(ctx, u, "", expires); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.CreateSetupToken(ctx, u.ID, time.Hour, SetupBySignup); err != nil {
			t.Fatal(err)
		}
		return u
	}
	dead := mk("dead", now.Add(time.Minute))
	withKey := mk("withkey", now.Add(time.Minute))
	if err := db.gorm.Create(&Credential{ID: NewUUID(), UserID: withKey.ID, CredentialID: []byte("k"), PublicKey: []byte{1}, CreatedAt: now}).Error; err != nil {
		t.Fatal(err)
	}
	live := mk("live", now.Add(48*time.Hour))
	verified := mk("verified", now.Add(time.Minute))
	if err := db.gorm.Model(&Signup{}).Where("user_id = ?", verified.ID).Update("verified_at", now).Error; err != nil {
		t.Fatal(err)
	}
	_, expired, _ := db.CreateSignupLink(ctx, 1, time.Minute, "t")
	_, revoked, _ := db.CreateSignupLink(ctx, 1, 48*time.Hour, "t")
	_ = db.RevokeSignupLink(ctx, revoked.ID)
	_, liveLink, _ := db.CreateSignupLink(ctx, 1, 48*time.Hour, "t")
	if err := db.ReplaceRecoveryCodes(ctx, live.ID, [][]byte{{1}, {2}}); err != nil {
		t.Fatal(err)
	}
	if err := db.SpendRecoveryCode(ctx, live.ID, []byte{1}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)

	counts, err := db.Purge(ctx, PurgeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if counts["signup_accounts"] != 1 || counts["signup_links"] != 2 || counts["signups"] != 1 || counts["recovery_codes"] != 1 {
		t.Fatalf("purged %v", counts)
	}
	if _, err := db.UserByID(ctx, dead.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the dead sign-up's account: %v", err)
	}
	for _, u := range []*User{withKey, live, verified} {
		if _, err := db.UserByID(ctx, u.ID); err != nil {
			t.Errorf("%s was purged: %v", u.Username, err)
		}
	}
	var left int64
	db.gorm.Model(&SetupToken{}).Where("user_id = ?", dead.ID).Count(&left)
	if left != 0 {
		t.Errorf("%d setup links of the purged account left", left)
	}
	links, _ := db.SignupLinks(ctx, 10)
	if len(links) != 1 || links[0].ID != liveLink.ID || expired.ID == liveLink.ID {
		t.Errorf("links left: %+v", links)
	}
	if n, _ := db.UnusedRecoveryCodes(ctx, live.ID); n != 1 {
		t.Errorf("%d unused codes left, want 1", n)
	}
}
