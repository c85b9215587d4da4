package models

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
)

// insertUsers adds n plain users in batches, as an import would.
func insertUsers(t *testing.T, db *DB, n int) {
	t.Helper()
	now := db.Now()
	const batch = 500
	for i := 0; i < n; i += batch {
		us := make([]User, 0, batch)
		for j := i; j < i+batch && j < n; j++ {
			h := make([]byte, 32)
			_, _ = rand.Read(h)
			us = append(us, User{ID: NewUUID(), WebAuthnID: h, Username: fmt.Sprintf("user-%06d", j),
				Email: fmt.Sprintf("user-%06d@example.com", j), CustomClaims: JSONMap{}, CreatedAt: now, UpdatedAt: now})
		}
		if err := db.gorm.Omit("Groups").Create(&us).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// AdminSignInState answers from the admins alone. With 40,000 users (more
// than SQLite's 32,766 bound variables, which the old start-up's preload
// of every user's groups exceeded) it still answers, and on SQLite its
// queries read the admins' partial index, never the whole users table.
func TestAdminSignInState(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	insertUsers(t, db, 40000)
	check := func(wantReady bool, wantCandidate string) {
		t.Helper()
		ready, cand, err := db.AdminSignInState(ctx, "admin")
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if cand != nil {
			got = cand.Username
		}
		if ready != wantReady || got != wantCandidate {
			t.Fatalf("AdminSignInState = %v, %q; want %v, %q", ready, got, wantReady, wantCandidate)
		}
	}
	check(false, "") // no admin at all

	add := func(name string, disabled bool) *User {
		t.Helper()
		u := &User{Username: name, IsAdmin: true}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if disabled {
			if err := db.SetUserDisabled(ctx, u.ID, true); err != nil {
				t.Fatal(err)
			}
		}
		return u
	}
	add("aaron", true) // disabled: never a candidate
	zed := add("zed", false)
	check(false, "zed")
	add("admin", false)
	check(false, "admin") // the one named "admin" first

	cred := &Credential{ID: NewUUID(), UserID: zed.ID, CredentialID: []byte("zed-key"), PublicKey: []byte{2}, CreatedAt: clock.Now()}
	if err := db.gorm.Create(cred).Error; err != nil {
		t.Fatal(err)
	}
	check(true, "") // an enabled admin can sign in

	if db.IsPostgres() {
		return
	}
	for _, q := range []string{adminWithPasskeySQL, adminCandidateSQL} {
		var plan []struct {
			ID, Parent, Notused int
			Detail              string
		}
		if err := db.gorm.Raw("EXPLAIN QUERY PLAN "+q, "admin").Scan(&plan).Error; err != nil {
			t.Fatal(err)
		}
		var details []string
		for _, p := range plan {
			details = append(details, p.Detail)
		}
		all := strings.Join(details, "; ")
		t.Logf("plan of %q: %s", q, all)
		if !strings.Contains(all, "users USING INDEX idx_users_admins") {
			t.Errorf("query %q plan %q: want the admins' partial index, no scan of users", q, all)
		}
	}
}
