package models

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// A SCIM list counts its matches up to SCIMCountCap and says when there
// are more; pages by offset and by key agree; a filter the columns cannot
// ask is ErrFilter (a 400 invalidFilter), as is a bad bound.
func TestSCIMUsersBounded(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	insertUsers(t, db, SCIMCountCap+5)

	l, err := db.SCIMUsers(ctx, SCIMQuery{Count: 3})
	if err != nil || l.Exact || l.Total != SCIMCountCap+1 || len(l.Items) != 3 || l.Items[0].Username != "user-000000" {
		t.Fatalf("unfiltered: %v exact=%v total=%d n=%d", err, l.Exact, l.Total, len(l.Items))
	}
	sw := &Filter{Op: "sw", Attr: "username", Value: "user-0099"}
	l, err = db.SCIMUsers(ctx, SCIMQuery{Filter: sw, Count: 50, Offset: 40})
	if err != nil || !l.Exact || l.Total != 100 || len(l.Items) != 50 || l.Items[0].Username != "user-009940" {
		t.Fatalf("sw page by offset: %v exact=%v total=%d n=%d", err, l.Exact, l.Total, len(l.Items))
	}
	k, err := db.SCIMUsers(ctx, SCIMQuery{Filter: sw, Count: 50, After: "user-009939"})
	if err != nil || len(k.Items) != 50 || k.Items[0].Username != l.Items[0].Username || k.Items[49].Username != l.Items[49].Username {
		t.Fatalf("the same page by key differs: %v", err)
	}
	for name, q := range map[string]SCIMQuery{
		"bool as string":   {Filter: &Filter{Op: "eq", Attr: "active", Value: "true"}, Count: 1},
		"co on a boolean":  {Filter: &Filter{Op: "co", Attr: "active", Value: true}, Count: 1},
		"number for name":  {Filter: &Filter{Op: "eq", Attr: "username", Value: 3.0}, Count: 1},
		"unknown column":   {Filter: &Filter{Op: "eq", Attr: "is_admin", Value: "true"}, Count: 1},
		"unknown operator": {Filter: &Filter{Op: "regex", Attr: "username", Value: "."}, Count: 1},
		"and of one":       {Filter: &Filter{Op: "and", Sub: []Filter{{Op: "pr", Attr: "username"}}}, Count: 1},
	} {
		if _, err := db.SCIMUsers(ctx, q); !errors.Is(err, ErrFilter) {
			t.Errorf("%s: %v, want ErrFilter", name, err)
		}
	}
	deep := Filter{Op: "pr", Attr: "username"}
	for range maxFilterDepth + 1 {
		deep = Filter{Op: "not", Sub: []Filter{deep}}
	}
	if _, err := db.SCIMUsers(ctx, SCIMQuery{Filter: &deep, Count: 1}); !errors.Is(err, ErrFilter) {
		t.Errorf("deep filter: %v", err)
	}
	for _, q := range []SCIMQuery{{Count: MaxListLimit + 1}, {Count: -1}, {Count: 1, Offset: MaxSCIMOffset + 1}} {
		if _, err := db.SCIMUsers(ctx, q); !errors.Is(err, ErrInvalid) || errors.Is(err, ErrFilter) {
			t.Errorf("%+v: %v, want ErrInvalid", q, err)
		}
	}
}

// UpdateSCIMUser changes nothing when apply fails or a value is refused.
func TestUpdateSCIMUserAtomic(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	u, err := db.CreateSCIMUser(ctx, SCIMUser{Username: "ann", Email: "ann@example.com", Active: true, ExternalID: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateSCIMUser(ctx, SCIMUser{Username: "ben", Active: true}); err != nil {
		t.Fatal(err)
	}
	for name, apply := range map[string]func(*SCIMUser) error{
		"apply fails":      func(s *SCIMUser) error { s.DisplayName = "x"; return fmt.Errorf("%w: no", ErrInvalid) },
		"taken username":   func(s *SCIMUser) error { s.Username, s.Active = "ben", false; return nil },
		"bad email":        func(s *SCIMUser) error { s.Email, s.Active = "not an address", false; return nil },
		"control in extID": func(s *SCIMUser) error { s.ExternalID, s.Active = "a\nb", false; return nil },
	} {
		if _, _, err := db.UpdateSCIMUser(ctx, u.ID, apply); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if got, _ := db.UserByID(ctx, u.ID); got.Username != "ann" || got.Disabled || got.DisplayName != "" || got.ExternalID != "e1" {
			t.Errorf("%s changed the user: %+v", name, got)
		}
	}
	if _, _, err := db.UpdateSCIMUser(ctx, "nobody", func(*SCIMUser) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

// A row written before CreateUser checked addresses and names strictly
// (an email with a display name, a name with a line break) can still be
// disabled by SCIM; a new bad value is refused.
func TestUpdateSCIMUserKeepsOldValues(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	u, err := db.CreateSCIMUser(ctx, SCIMUser{Username: "old", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.Exec("UPDATE users SET email = ?, display_name = ? WHERE id = ?", "Old <old@example.com>", "Old\nName", u.ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, after, err := db.UpdateSCIMUser(ctx, u.ID, func(s *SCIMUser) error { s.Active = false; return nil }); err != nil || !after.Disabled ||
		after.Email != "Old <old@example.com>" || after.DisplayName != "Old\nName" {
		t.Fatalf("disable a legacy row: %+v, %v", after, err)
	}
	for name, apply := range map[string]func(*SCIMUser) error{
		"new bad email": func(s *SCIMUser) error { s.Email = "x@example.com\r\nBcc: y@example.com"; return nil },
		"new bad name":  func(s *SCIMUser) error { s.DisplayName = "New\r\nName"; return nil },
	} {
		if _, _, err := db.UpdateSCIMUser(ctx, u.ID, apply); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
