package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// The group pickers' search: a case-insensitive prefix, in name order,
// cut to the limit; MissingGroups names what does not exist.
func TestSearchGroupNames(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	for _, n := range []string{"beta", "Alpha", "alps", "al", "Gamma"} {
		if _, err := db.CreateGroup(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"AL", 10, []string{"al", "Alpha", "alps"}},
		{"alp", 1, []string{"Alpha"}},
		{"", 2, []string{"al", "Alpha"}},
		{"z", 10, []string{}},
	} {
		got, err := db.SearchGroupNames(ctx, tc.prefix, tc.limit)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("SearchGroupNames(%q, %d) = %q, %v; want %q", tc.prefix, tc.limit, got, err, tc.want)
		}
	}
	if _, err := db.SearchGroupNames(ctx, "a", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("limit 0: %v", err)
	}
	if got, err := db.MissingGroups(ctx, []string{"beta", " nope ", "Alpha", "nope", "alpha"}); err != nil || !slices.Equal(got, []string{"nope", "alpha"}) {
		t.Errorf("MissingGroups = %q, %v", got, err)
	}
	if _, err := db.MissingGroups(ctx, []string{"a,b"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a name with a comma: %v", err)
	}
}

// A broad search and a large group walk the username index instead of
// sorting (sortCap); the pages they give, forward and back, are the same
// as the sorted ones.
func TestWalkingPagesMatchSortedPages(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	insertUsers(t, db, 120)
	big, err := db.CreateGroup(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	// Every third user, and a display name on every user whose number
	// ends in 7 (a range of 12 names, the order of the usernames).
	if err := db.gorm.Exec("INSERT INTO user_groups (user_id, group_id) SELECT id, ? FROM users WHERE CAST(substr(username, 6) AS INTEGER) % 3 = 0", big.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.Exec("UPDATE users SET display_name = 'Seven ' || username WHERE username LIKE '%7'").Error; err != nil {
		t.Fatal(err)
	}
	pagesOf := func(list func(p PageQuery) ([]string, bool, error)) (fwd, back []string) {
		t.Helper()
		p := PageQuery{Limit: 7}
		for {
			names, more, err := list(p)
			if err != nil {
				t.Fatal(err)
			}
			fwd = append(fwd, names...)
			if !more {
				break
			}
			p.After = names[len(names)-1]
		}
		p = PageQuery{Limit: 7, Before: "zzz"}
		for {
			names, more, err := list(p)
			if err != nil {
				t.Fatal(err)
			}
			back = append(slices.Clone(names), back...)
			if !more {
				break
			}
			p.Before = names[0]
		}
		return fwd, back
	}
	members := func(p PageQuery) ([]string, bool, error) {
		us, more, err := db.GroupMembersPage(ctx, big.ID, p)
		var names []string
		for _, u := range us {
			names = append(names, u.Username)
		}
		return names, more, err
	}
	search := func(prefix string) func(p PageQuery) ([]string, bool, error) {
		return func(p PageQuery) ([]string, bool, error) {
			us, more, err := db.SearchUsers(ctx, UserSearch{PageQuery: p, Prefix: prefix})
			var names []string
			for _, u := range us {
				names = append(names, u.Username)
			}
			return names, more, err
		}
	}
	var wantMembers []string
	for i := 0; i < 120; i += 3 {
		wantMembers = append(wantMembers, fmt.Sprintf("user-%06d", i))
	}
	var wantSevens []string
	for i := 7; i < 120; i += 10 {
		wantSevens = append(wantSevens, fmt.Sprintf("user-%06d", i))
	}
	t.Cleanup(func() { sortCapFactor = 100 })
	for _, factor := range []int{100, 1} { // sorted, then walking
		sortCapFactor = factor
		for _, tc := range []struct {
			name string
			list func(p PageQuery) ([]string, bool, error)
			want []string
		}{
			{"members", members, wantMembers},
			{"email prefix", search("USER-00001"), nil},
			{"name prefix", search("seven"), wantSevens},
			{"no match", search("q"), nil},
		} {
			want := tc.want
			if tc.name == "email prefix" {
				for i := 10; i < 20; i++ {
					want = append(want, fmt.Sprintf("user-%06d", i))
				}
			}
			fwd, back := pagesOf(tc.list)
			if !slices.Equal(fwd, want) || !slices.Equal(back, want) {
				t.Errorf("factor %d, %s: forward %q, back %q; want %q", factor, tc.name, fwd, back, want)
			}
		}
	}
}
