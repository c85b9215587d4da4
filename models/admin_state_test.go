package models

import (
	"context"
	"crypto/rand"
	"errors"
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

// ListUsersPage pages by username with a cursor, filters by a prefix of
// username, email or name, counts each user's passkeys and refuses a
// limit out of range.
func TestListUsersPage(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	insertUsers(t, db, 2500)
	named := &User{Username: "zz-carol", Email: "Carol.Smith@example.org", DisplayName: "Carol"}
	if err := db.CreateUser(ctx, named); err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.Create(&Credential{ID: NewUUID(), UserID: named.ID, CredentialID: []byte("carol-1"), PublicKey: []byte{1}, CreatedAt: clock.Now()}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.Create(&Credential{ID: NewUUID(), UserID: named.ID, CredentialID: []byte("carol-2"), PublicKey: []byte{1}, CreatedAt: clock.Now()}).Error; err != nil {
		t.Fatal(err)
	}

	seen, after, pages := 0, "", 0
	for {
		page, err := db.ListUsersPage(ctx, after, "", MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range page {
			if u.Username <= after || i > 0 && u.Username <= page[i-1].Username {
				t.Fatalf("page %d out of order at %q (after %q)", pages, u.Username, after)
			}
		}
		seen += len(page)
		pages++
		if len(page) < MaxListLimit {
			break
		}
		after = page[len(page)-1].Username
	}
	if seen != 2501 || pages != 3 {
		t.Fatalf("paged through %d users in %d pages, want 2501 in 3", seen, pages)
	}

	for _, prefix := range []string{"ZZ-C", "carol.smith@", "carol"} {
		page, err := db.ListUsersPage(ctx, "", prefix, 10)
		if err != nil || len(page) != 1 || page[0].ID != named.ID || page[0].Passkeys != 2 {
			t.Fatalf("search %q: %+v, %v; want carol with 2 passkeys", prefix, page, err)
		}
	}
	if page, err := db.ListUsersPage(ctx, "", "user-00001", 50); err != nil || len(page) != 10 {
		t.Fatalf("prefix user-00001: %d users, %v; want 10", len(page), err)
	}
	if page, err := db.ListUsersPage(ctx, "", "%", 50); err != nil || len(page) != 0 {
		t.Fatalf("a LIKE wildcard is literal: %d users, %v", len(page), err)
	}
	for _, limit := range []int{0, -1, MaxListLimit + 1} {
		if _, err := db.ListUsersPage(ctx, "", "", limit); !errors.Is(err, ErrInvalid) {
			t.Fatalf("limit %d: %v, want ErrInvalid", limit, err)
		}
	}
}
