package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Lists that page (issue 18): every list that grows with the number of
// users, clients, groups or events is read one page at a time by key (a
// cursor, never an OFFSET) on an index, and never counted whole, so a page
// costs the same with a million rows as with ten.

// PageQuery selects one page of a list ordered by a unique key: the rows
// after After (the next page), or, when Before is set, the rows just
// before it (the previous page). Both empty is the first page. Limit is 1
// to MaxListLimit.
type PageQuery struct {
	After, Before string
	Limit         int
}

func (p PageQuery) check() error {
	if p.Limit < 1 || p.Limit > MaxListLimit {
		return fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxListLimit)
	}
	if p.After != "" && p.Before != "" {
		return fmt.Errorf("%w: a page is either after or before a cursor", ErrInvalid)
	}
	return nil
}

// keyset adds the cursor condition, the order and the limit (one more
// than the page, to know whether another follows) on the key column col.
func (p PageQuery) keyset(q *gorm.DB, col string) *gorm.DB {
	switch {
	case p.Before != "":
		return q.Where(col+" < ?", p.Before).Order(col + " DESC").Limit(p.Limit + 1)
	case p.After != "":
		q = q.Where(col+" > ?", p.After)
	}
	return q.Order(col).Limit(p.Limit + 1)
}

// cut trims rows read by keyset to the page, in ascending order, and
// reports whether more rows lie beyond it in the direction read.
func cut[T any](rows []T, p PageQuery) ([]T, bool) {
	more := len(rows) > p.Limit
	if more {
		rows = rows[:p.Limit]
	}
	if p.Before != "" {
		slices.Reverse(rows)
	}
	return rows, more
}

// prefixBounds returns the range [lo, hi) of the strings that start with
// p, compared byte-wise (UTF-8's byte order is its code point order):
// hi is p with its last code point incremented; "" means no upper bound.
// Both are valid UTF-8, as Postgres requires of a text parameter.
func prefixBounds(p string) (lo, hi string) {
	rs := []rune(p)
	for len(rs) > 0 {
		r := rs[len(rs)-1] + 1
		if r >= 0xD800 && r <= 0xDFFF {
			r = 0xE000
		}
		if r <= utf8.MaxRune {
			rs[len(rs)-1] = r
			return p, string(rs)
		}
		rs = rs[:len(rs)-1]
	}
	return p, ""
}

// foldSearch lowercases a search as the database lowercases a column:
// SQLite's lower() folds ASCII letters only.
func (db *conn) foldSearch(s string) string {
	s = strings.TrimSpace(s)
	if db.postgres {
		return strings.ToLower(s)
	}
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// UserSearch selects a page of users by username; Prefix, when set,
// keeps the users whose username, email or display name starts with it,
// case-insensitively.
type UserSearch struct {
	PageQuery
	Prefix string
}

// searchColumns are the expressions a prefix search compares, matching the
// indexes of migration 00011 (usernames are stored lowercase). On Postgres
// they are compared byte-wise ("C"), as a prefix range must be; the key
// column of the other branches is hidden from SQLite's planner (+) so that
// it searches the prefix index instead of walking the usernames.
func (db *conn) searchColumns() (cols []string, key string) {
	if db.postgres {
		return []string{`(username COLLATE "C")`, `(lower(email) COLLATE "C")`, `(lower(display_name) COLLATE "C")`}, "username"
	}
	return []string{"username", "lower(email)", "lower(display_name)"}, "+username"
}

// walkUsernames returns the IDs of up to n users that match cond, in
// the order order from the cursor (op, cursor; none when cursor is
// ""), among the next walkWindow(n) users of the username index: a walk
// whose cost is bounded whatever cond matches. Fewer than n IDs means
// the window did not hold a page.
func (db *conn) walkUsernames(ctx context.Context, cond string, condArgs []any, order, op, cursor string, n int) ([]string, error) {
	inner := "SELECT id, username, email, display_name FROM users"
	var args []any
	if cursor != "" {
		inner += " WHERE username " + op + " ?"
		args = append(args, cursor)
	}
	q := fmt.Sprintf("SELECT id FROM (%s ORDER BY %s LIMIT %d) AS w WHERE %s ORDER BY %s LIMIT %d",
		inner, order, walkWindow(n), cond, order, n)
	var ids []string
	err := db.ctx(ctx).Raw(q, append(args, condArgs...)...).Pluck("id", &ids).Error
	return ids, translate(err)
}

// walkWindow is how many users of the username index a walk reads at
// most for a page of n: four times what a sort may read.
func walkWindow(n int) int { return 4 * sortCapFactor * n }

// userPageIDs returns the IDs of the page's users (Limit+1 of them at most,
// in the order read) with one query on the indexes: without a prefix, a
// walk of the username index from the cursor; with one, the union of
// three prefix ranges, each cut to the page before they are merged.
func (db *UserStore) userPageIDs(ctx context.Context, s UserSearch) ([]string, error) {
	var ids []string
	prefix := db.foldSearch(s.Prefix)
	if prefix == "" {
		err := s.keyset(db.ctx(ctx).Model(&User{}), "username").Pluck("id", &ids).Error
		return ids, translate(err)
	}
	lo, hi := prefixBounds(prefix)
	cols, key := db.searchColumns()
	order, cursor, op := "username", "", ""
	switch {
	case s.Before != "":
		order, cursor, op = "username DESC", s.Before, "<"
	case s.After != "":
		cursor, op = s.After, ">"
	}
	var branches []string
	var args []any
	for i, col := range cols {
		rng := col + " >= ?"
		rangeArgs := []any{lo}
		if hi != "" {
			rng += " AND " + col + " < ?"
			rangeArgs = append(rangeArgs, hi)
		}
		k := key
		if i > 0 {
			// A broad range (a one-letter prefix: a million addresses)
			// would be sorted whole by username: walk the username index
			// instead, a bounded window of it, and sort the range only
			// when the window holds less than a page of it (a range far
			// from the cursor in username order).
			n, err := db.countUpTo(ctx, "SELECT 1 FROM users WHERE "+rng, sortCap(s.Limit), rangeArgs...)
			if err != nil {
				return nil, err
			}
			if n >= sortCap(s.Limit) {
				found, err := db.walkUsernames(ctx, rng, rangeArgs, order, op, cursor, s.Limit+1)
				if err != nil {
					return nil, err
				}
				if len(found) > s.Limit {
					branches = append(branches, fmt.Sprintf("SELECT id, username FROM users AS b%d WHERE id IN ?", i))
					args = append(args, found)
					continue
				}
			}
		}
		where := rng
		args = append(args, rangeArgs...)
		if cursor != "" {
			if i == 0 {
				k = "username"
			}
			where += " AND " + k + " " + op + " ?"
			args = append(args, cursor)
		}
		branches = append(branches, fmt.Sprintf("SELECT id, username FROM (SELECT id, username FROM users WHERE %s ORDER BY %s LIMIT %d) AS b%d",
			where, order, s.Limit+1, i))
	}
	q := fmt.Sprintf("SELECT id FROM (%s) AS m ORDER BY %s LIMIT %d", strings.Join(branches, " UNION "), order, s.Limit+1)
	err := db.ctx(ctx).Raw(q, args...).Pluck("id", &ids).Error
	return ids, translate(err)
}

// SearchUsers returns a page of users by username (see UserSearch) with
// their groups and passkey counts, and whether another page follows in
// the direction read (after the page when paging forward, before it when
// paging back). It reads the page's users only, on indexes (migration
// 00011): a page costs the same on the millionth user as on the first,
// and nothing counts the table. Errors: ErrInvalid for a limit out of
// range or both cursors.
func (db *UserStore) SearchUsers(ctx context.Context, s UserSearch) ([]UserListing, bool, error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	ids, err := db.userPageIDs(ctx, s)
	if err != nil {
		return nil, false, err
	}
	ids, more := cut(ids, s.PageQuery)
	out := make([]UserListing, len(ids))
	if len(ids) == 0 {
		return out, more, nil
	}
	var us []User
	if err := db.ctx(ctx).Preload("Groups").Where("id IN ?", ids).Find(&us).Error; err != nil {
		return nil, false, translate(err)
	}
	byID := make(map[string]*User, len(us))
	for i := range us {
		byID[us[i].ID] = &us[i]
	}
	var counts []struct {
		UserID string
		N      int
	}
	if err := db.ctx(ctx).Model(&Credential{}).Select("user_id, COUNT(*) AS n").Where("user_id IN ?", ids).Group("user_id").Scan(&counts).Error; err != nil {
		return nil, false, translate(err)
	}
	passkeys := make(map[string]int, len(counts))
	for _, c := range counts {
		passkeys[c.UserID] = c.N
	}
	out = out[:0]
	for _, id := range ids {
		if u := byID[id]; u != nil { // deleted between the two reads
			out = append(out, UserListing{User: *u, Passkeys: passkeys[id]})
		}
	}
	return out, more, nil
}

// ListGroupsPage returns a page of groups by name (the cursors are group
// names) with their member counts, and whether another page follows in
// the direction read. Errors: ErrInvalid (see PageQuery).
func (db *UserStore) ListGroupsPage(ctx context.Context, p PageQuery) ([]GroupInfo, bool, error) {
	if err := p.check(); err != nil {
		return nil, false, err
	}
	var out []GroupInfo
	q := db.ctx(ctx).Model(&Group{}).
		Select("groups.id, groups.name, groups.created_at, (SELECT COUNT(*) FROM user_groups WHERE user_groups.group_id = groups.id) AS members")
	if err := p.keyset(q, "groups.name").Scan(&out).Error; err != nil {
		return nil, false, translate(err)
	}
	out, more := cut(out, p)
	return out, more, nil
}

// GroupMembersPage returns a page of a group's members by username (the
// cursors are usernames), and whether another page follows in the
// direction read. A small group (under sortCap members) is read from its
// membership index and sorted; a large one by walking a bounded window of
// the username index and keeping the members (a primary-key probe of
// user_groups per user), so a page of a group of 200,000 reads a few
// thousand users instead of sorting the group; only when the window
// holds less than a page of the group is the group sorted.
// Errors: ErrInvalid (see PageQuery).
func (db *UserStore) GroupMembersPage(ctx context.Context, groupID string, p PageQuery) ([]User, bool, error) {
	if err := p.check(); err != nil {
		return nil, false, err
	}
	n, err := db.countUpTo(ctx, "SELECT 1 FROM user_groups WHERE group_id = ?", sortCap(p.Limit), groupID)
	if err != nil {
		return nil, false, err
	}
	var us []User
	if n >= sortCap(p.Limit) {
		// A bounded window of the username index, members kept.
		window := p.keyset(db.ctx(ctx).Model(&User{}), "users.username").Limit(walkWindow(p.Limit + 1))
		q := db.ctx(ctx).Table("(?) AS w", window).
			Where("EXISTS (SELECT 1 FROM user_groups WHERE user_groups.user_id = w.id AND user_groups.group_id = ?)", groupID)
		order := "w.username"
		if p.Before != "" {
			order += " DESC"
		}
		if err := q.Order(order).Limit(p.Limit + 1).Find(&us).Error; err != nil {
			return nil, false, translate(err)
		}
	}
	if len(us) <= p.Limit { // a small group, or a window without a page of it
		us = nil
		q := db.ctx(ctx).Joins("JOIN user_groups ON user_groups.user_id = users.id").Where("user_groups.group_id = ?", groupID)
		if err := p.keyset(q, "users.username").Find(&us).Error; err != nil {
			return nil, false, translate(err)
		}
	}
	us, more := cut(us, p)
	return us, more, nil
}

// ListClientsPage returns a page of clients by name, then ID, and whether
// another page follows in the direction read. The cursors are client IDs:
// the page starts after (or ends before) that client's place in the
// order. Errors: ErrInvalid (see PageQuery, or a cursor naming no client).
func (db *ClientStore) ListClientsPage(ctx context.Context, p PageQuery) ([]Client, bool, error) {
	if err := p.check(); err != nil {
		return nil, false, err
	}
	q := db.ctx(ctx).Model(&Client{})
	order := "name, id"
	if cursor := p.After + p.Before; cursor != "" {
		var at Client
		if err := db.ctx(ctx).Select("id, name").First(&at, "id = ?", cursor).Error; err != nil {
			if err = translate(err); errors.Is(err, ErrNotFound) {
				return nil, false, fmt.Errorf("%w: no client %q to page from", ErrInvalid, cursor)
			}
			return nil, false, err
		}
		op := ">"
		if p.Before != "" {
			op, order = "<", "name DESC, id DESC"
		}
		q = q.Where("(name, id) "+op+" (?, ?)", at.Name, at.ID)
	}
	var cs []Client
	if err := q.Order(order).Limit(p.Limit + 1).Find(&cs).Error; err != nil {
		return nil, false, translate(err)
	}
	cs, more := cut(cs, p)
	return cs, more, nil
}
