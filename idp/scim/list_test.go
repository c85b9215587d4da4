package scim

import (
	"errors"
	"reflect"
	"testing"
	"time"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/scim2/filter-parser/v2"

	"github.com/latchkey-idp/latchkey/models"
)

func TestToFilter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *models.Filter
		err  bool
	}{
		{in: `userName eq "a"`, want: &models.Filter{Op: "eq", Attr: "username", Value: "a"}},
		{in: `USERNAME Eq "a"`, want: &models.Filter{Op: "eq", Attr: "username", Value: "a"}},
		{in: `emails.value co "x"`, want: &models.Filter{Op: "co", Attr: "email", Value: "x"}},
		{in: `emails[value sw "x"]`, want: &models.Filter{Op: "sw", Attr: "email", Value: "x"}},
		{in: `active eq false`, want: &models.Filter{Op: "eq", Attr: "active", Value: false}},
		{in: `externalId pr`, want: &models.Filter{Op: "pr", Attr: "external_id"}},
		{in: `userName eq "a" or not (displayName co "b")`, want: &models.Filter{Op: "or", Sub: []models.Filter{
			{Op: "eq", Attr: "username", Value: "a"}, {Op: "not", Sub: []models.Filter{{Op: "co", Attr: "display_name", Value: "b"}}}}}},
		{in: `emails[type eq "work"]`, err: true},
		{in: `name.givenName eq "a"`, err: true},
		{in: `meta.created gt "2026-01-01T00:00:00Z"`, err: true},
	} {
		e, err := filter.ParseFilter([]byte(tc.in))
		if err != nil {
			t.Fatalf("parse %s: %v", tc.in, err)
		}
		got, err := toFilter(e, userFilterAttrs, "")
		if tc.err {
			var se scimerrors.ScimError
			if !errors.As(err, &se) || se.ScimType != scimerrors.ScimTypeInvalidFilter || se.Status != 400 {
				t.Errorf("%s: %v, want a 400 invalidFilter", tc.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// totalResults is exact below the count cap, and above it a lower bound
// one ahead of a full page, so a client reads on until a short page.
func TestTotal(t *testing.T) {
	for _, tc := range []struct {
		offset, n, count, counted int
		exact                     bool
		want                      int
	}{
		{0, 3, 100, 3, true, 3},
		{0, 100, 100, models.SCIMCountCap + 1, false, models.SCIMCountCap + 1},
		{20000, 100, 100, models.SCIMCountCap + 1, false, 20101},
		{20000, 40, 100, models.SCIMCountCap + 1, false, 20040},
	} {
		if got := total(tc.offset, tc.n, tc.count, tc.counted, tc.exact); got != tc.want {
			t.Errorf("total%+v = %d, want %d", tc, got, tc.want)
		}
	}
}

func TestCursorCache(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := newCursorCache(func() time.Time { return now })
	c.put("k\x00", 100, "bob")
	if got, ok := c.get("k\x00100"); !ok || got != "bob" {
		t.Fatalf("get = %q %v", got, ok)
	}
	if _, ok := c.get("k\x00200"); ok {
		t.Fatal("a position never read has a cursor")
	}
	now = now.Add(cursorTTL + time.Second)
	if _, ok := c.get("k\x00100"); ok {
		t.Fatal("an expired cursor is used")
	}
	for i := range cursorMax + 10 {
		c.put("k\x00", i, "x")
	}
	if len(c.m) > cursorMax {
		t.Fatalf("cache holds %d entries, more than %d", len(c.m), cursorMax)
	}
}

func TestEqValues(t *testing.T) {
	e, err := filter.ParseFilter([]byte(`value eq "a" or value eq "b"`))
	if err != nil {
		t.Fatal(err)
	}
	if ids, ok := eqValues(e); !ok || !reflect.DeepEqual(ids, []string{"a", "b"}) {
		t.Errorf("eqValues = %v %v", ids, ok)
	}
	for _, in := range []string{`value ne "a"`, `display eq "a"`, `value eq "a" and value eq "b"`} {
		e, _ := filter.ParseFilter([]byte(in))
		if _, ok := eqValues(e); ok {
			t.Errorf("eqValues accepted %s", in)
		}
	}
}

func TestPrimaryEmail(t *testing.T) {
	e := func(value, typ string, primary bool) any {
		return map[string]any{"value": value, "type": typ, "primary": primary}
	}
	for _, tc := range []struct {
		in   []any
		want string
	}{
		{nil, ""},
		{[]any{e("h@x", "home", false)}, "h@x"},
		{[]any{e("h@x", "home", false), e("w@x", "work", false)}, "w@x"},
		{[]any{e("h@x", "home", false), e("w@x", "work", false), e("p@x", "other", true)}, "p@x"},
	} {
		if got := primaryEmail(tc.in); got != tc.want {
			t.Errorf("primaryEmail(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
