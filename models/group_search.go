package models

import (
	"context"
	"fmt"
	"slices"
)

// sortCap is how many rows a list query may read to sort them when it
// cannot read its page in key order from an index: a prefix range of
// email addresses or names ordered by username, or a group's members
// ordered by username. Up to sortCap rows, the query reads the range and
// sorts it; beyond, it walks the username index and keeps the rows in the
// range (or the group), which, for a range of at least sortCap rows among
// N users spread evenly over the usernames, reads about (limit+1)·N/sortCap
// rows: 10,000 for a page of 50 at a million users, instead of sorting
// the whole range (a million rows for a one-letter prefix).
func sortCap(limit int) int { return sortCapFactor * (limit + 1) }

// sortCapFactor is a variable so that tests can make a small table take
// the walking path.
var sortCapFactor = 100

// countUpTo counts the rows of q, stopping at n: an index range read of n
// entries at most.
func (db *conn) countUpTo(ctx context.Context, q string, n int, args ...any) (int, error) {
	var c int
	err := db.ctx(ctx).Raw(fmt.Sprintf("SELECT COUNT(*) FROM (%s LIMIT %d) AS c", q, n), args...).Scan(&c).Error
	return c, translate(err)
}

// groupNameColumn is the expression the group search compares (migration
// 00023): byte-wise ("C") on Postgres, as a prefix range must be.
func (db *conn) groupNameColumn() string {
	if db.postgres {
		return `(lower(name) COLLATE "C")`
	}
	return "lower(name)"
}

// SearchGroupNames returns up to limit group names that start with prefix,
// case-insensitively, in the order of their lower-case names (all groups
// when prefix is empty). It reads one range of an index (migration
// 00023), so its cost follows limit, not the number of groups. Errors:
// ErrInvalid for a limit out of 1 to MaxListLimit.
func (db *UserStore) SearchGroupNames(ctx context.Context, prefix string, limit int) ([]string, error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxListLimit)
	}
	col := db.groupNameColumn()
	q := db.ctx(ctx).Model(&Group{})
	if p := db.foldSearch(prefix); p != "" {
		lo, hi := prefixBounds(p)
		q = q.Where(col+" >= ?", lo)
		if hi != "" {
			q = q.Where(col+" < ?", hi)
		}
	}
	names := []string{}
	err := q.Order(col).Order("name").Limit(limit).Pluck("name", &names).Error
	return names, translate(err)
}

// MissingGroups returns the names among names that no group has (exact
// names, after trimming), in the order given, reading the groups by their
// unique name index. Errors: ErrInvalid for a name that no group could
// have (see NormalizeGroupName).
func (db *UserStore) MissingGroups(ctx context.Context, names []string) ([]string, error) {
	var want []string
	for _, n := range names {
		n, err := NormalizeGroupName(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(want, n) {
			want = append(want, n)
		}
	}
	have := map[string]bool{}
	for chunk := range slices.Chunk(want, 500) {
		var found []string
		if err := db.ctx(ctx).Model(&Group{}).Where("name IN ?", chunk).Pluck("name", &found).Error; err != nil {
			return nil, translate(err)
		}
		for _, n := range found {
			have[n] = true
		}
	}
	var missing []string
	for _, n := range want {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}
