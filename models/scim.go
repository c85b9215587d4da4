package models

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// SCIM provisioning (issue 23, RFC 7643 and 7644): a directory (Entra ID,
// Okta, an HR system) creates, changes and deletes users and groups.
// idp/scim speaks the protocol; this file holds the storage side: filters
// as SQL on indexes, bounded lists, and the changes, each in one
// transaction.

// Filter is a query on the attributes of users or groups, built by
// idp/scim from a SCIM filter (RFC 7644 §3.4.2.2). Op is "and" or "or"
// (over Sub, two or more), "not" (Sub[0]), or a comparison of Attr with
// Value: "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le" or "pr"
// (present, no Value). Attr names a filterable attribute: for users
// "username", "email", "display_name", "external_id", "id", "active"; for
// groups "display_name", "external_id", "id".
type Filter struct {
	Op    string
	Attr  string
	Value any // a string, or a bool for "active"
	Sub   []Filter
}

// filterColumn is how a filterable attribute is compared: the SQL
// expression on each backend (the expression of an index), whether the
// value is folded to lower case (the column is compared lowercased), or,
// for a boolean attribute, the SQL predicate that holds when it is true.
type filterColumn struct {
	sqlite, postgres string
	fold             bool
	boolean          string
}

// The expressions match the indexes of migrations 00011 and 00018; on
// Postgres they are byte-wise ("C"), so that sw is a range on the index.
var (
	userFilterColumns = map[string]filterColumn{
		"username":     {sqlite: "username", postgres: `(username COLLATE "C")`, fold: true},
		"email":        {sqlite: "lower(email)", postgres: `(lower(email) COLLATE "C")`, fold: true},
		"display_name": {sqlite: "lower(display_name)", postgres: `(lower(display_name) COLLATE "C")`, fold: true},
		"external_id":  {sqlite: "external_id", postgres: `(external_id COLLATE "C")`},
		"id":           {sqlite: "id", postgres: "id"},
		// Literal, so that SQLite can use the partial index users_disabled.
		"active": {boolean: "NOT disabled"},
	}
	groupFilterColumns = map[string]filterColumn{
		"display_name": {sqlite: "name", postgres: `(name COLLATE "C")`},
		"external_id":  {sqlite: "external_id", postgres: `(external_id COLLATE "C")`},
		"id":           {sqlite: "id", postgres: "id"},
	}
)

// ErrFilter wraps the ErrInvalid errors of a filter that cannot be
// asked (an attribute, operator or value the columns cannot compare).
var ErrFilter = fmt.Errorf("%w: filter", ErrInvalid)

// maxFilterDepth bounds the nesting of a filter (and, or, not).
const maxFilterDepth = 16

// filterSQL returns the WHERE condition of f with its bound arguments
// ("1 = 1" for no filter). Errors: ErrInvalid for an attribute, operator
// or value the columns cannot compare.
func (db *conn) filterSQL(cols map[string]filterColumn, f *Filter, depth int) (string, []any, error) {
	if f == nil {
		return "1 = 1", nil, nil
	}
	if depth > maxFilterDepth {
		return "", nil, fmt.Errorf("%w: the filter is nested too deeply", ErrFilter)
	}
	switch f.Op {
	case "and", "or":
		if len(f.Sub) < 2 {
			return "", nil, fmt.Errorf("%w: %s needs two operands", ErrFilter, f.Op)
		}
		parts := make([]string, 0, len(f.Sub))
		var args []any
		for i := range f.Sub {
			w, a, err := db.filterSQL(cols, &f.Sub[i], depth+1)
			if err != nil {
				return "", nil, err
			}
			parts = append(parts, "("+w+")")
			args = append(args, a...)
		}
		return strings.Join(parts, " "+strings.ToUpper(f.Op)+" "), args, nil
	case "not":
		if len(f.Sub) != 1 {
			return "", nil, fmt.Errorf("%w: not needs one operand", ErrFilter)
		}
		w, a, err := db.filterSQL(cols, &f.Sub[0], depth+1)
		return "NOT (" + w + ")", a, err
	}
	col, ok := cols[f.Attr]
	if !ok {
		return "", nil, fmt.Errorf("%w: attribute %q cannot be filtered", ErrFilter, f.Attr)
	}
	if col.boolean != "" {
		return boolFilterSQL(col, f)
	}
	expr := col.sqlite
	if db.postgres {
		expr = col.postgres
	}
	if f.Op == "pr" {
		return expr + " <> ''", nil, nil
	}
	v, ok := f.Value.(string)
	if !ok {
		return "", nil, fmt.Errorf("%w: %s compares with a string", ErrFilter, f.Attr)
	}
	if col.fold {
		v = db.foldValue(v)
	}
	switch f.Op {
	case "eq", "ne", "gt", "ge", "lt", "le":
		op := map[string]string{"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}[f.Op]
		return expr + " " + op + " ?", []any{v}, nil
	case "sw":
		// A prefix is a range on the index (models/paging.go).
		lo, hi := prefixBounds(v)
		if hi == "" {
			return expr + " >= ?", []any{lo}, nil
		}
		return expr + " >= ? AND " + expr + " < ?", []any{lo, hi}, nil
	case "co", "ew":
		// No index answers these: the list walks its order's index and
		// tests each row, page by page (SCIMUsers).
		p := "%" + likeEscaper.Replace(v)
		if f.Op == "co" {
			p += "%"
		}
		return expr + ` LIKE ? ESCAPE '\'`, []any{p}, nil
	}
	return "", nil, fmt.Errorf("%w: operator %q is not supported", ErrFilter, f.Op)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func boolFilterSQL(col filterColumn, f *Filter) (string, []any, error) {
	if f.Op == "pr" {
		return "1 = 1", nil, nil
	}
	v, ok := f.Value.(bool)
	if !ok || (f.Op != "eq" && f.Op != "ne") {
		return "", nil, fmt.Errorf("%w: %s compares with eq or ne and true or false", ErrFilter, f.Attr)
	}
	if v == (f.Op == "eq") {
		return col.boolean, nil, nil
	}
	return "NOT (" + col.boolean + ")", nil, nil
}

// foldValue lowercases a value as the database lowercases a column
// (foldSearch, without trimming: eq compares the exact value).
func (db *conn) foldValue(s string) string {
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

// SCIM lists are bounded: a page holds at most MaxListLimit rows, a total
// is counted up to SCIMCountCap matches (beyond, it is a lower bound), and
// a page found by position (startIndex, RFC 7644 §3.4.2.4) skips at most
// MaxSCIMOffset rows of the index; a client paging in order continues
// after the last key of its previous page instead (SCIMQuery.After).
const (
	SCIMCountCap  = 10000
	MaxSCIMOffset = 200000
)

// SCIMQuery selects a page of a SCIM list, ordered by username (users) or
// name (groups).
type SCIMQuery struct {
	Filter *Filter
	// After, when set, starts the page after this sort key; otherwise the
	// page starts after Offset rows (0 to MaxSCIMOffset).
	After  string
	Offset int
	Count  int // 0 (the total only) to MaxListLimit
}

// SCIMList is a page of a SCIM list with its total: exact when Exact,
// otherwise at least Total (more than SCIMCountCap matched).
type SCIMList[T any] struct {
	Items []T
	Total int
	Exact bool
}

func (q SCIMQuery) check() error {
	if q.Count < 0 || q.Count > MaxListLimit {
		return fmt.Errorf("%w: count must be 0 to %d", ErrInvalid, MaxListLimit)
	}
	if q.Offset < 0 || q.Offset > MaxSCIMOffset {
		return fmt.Errorf("%w: startIndex must be 1 to %d", ErrInvalid, MaxSCIMOffset+1)
	}
	return nil
}

// scimPage counts the matches of where (up to SCIMCountCap, and one more
// to know whether there are more) and reads the
// page into out, ordered by key, with each row's groups if preload.
func (db *conn) scimPage(ctx context.Context, table, key, where string, args []any, q SCIMQuery, out any, preload string) (int, bool, error) {
	var total int64
	err := db.ctx(ctx).Raw("SELECT COUNT(*) FROM (SELECT 1 FROM "+table+" WHERE "+where+" LIMIT ?) AS m",
		append(append([]any{}, args...), SCIMCountCap+1)...).Scan(&total).Error
	if err != nil {
		return 0, false, translate(err)
	}
	if q.Count == 0 {
		return int(total), total <= SCIMCountCap, nil
	}
	page := db.ctx(ctx).Where(where, args...) // the table is out's
	if preload != "" {
		page = page.Preload(preload)
	}
	switch {
	case q.After != "":
		page = page.Where(key+" > ?", q.After)
	case q.Offset > 0:
		page = page.Offset(q.Offset)
	}
	if err := page.Order(key).Limit(q.Count).Find(out).Error; err != nil {
		return 0, false, translate(err)
	}
	return int(total), total <= SCIMCountCap, nil
}

// SCIMUsers returns a page of the users matching q.Filter by username,
// with their groups. Filters on username, email, display name and
// external ID with eq or sw read an index; co, ew, ne and active walk the
// username index and test each row, so their cost grows with the rows
// passed over, never with memory. Errors: ErrInvalid.
func (db *UserStore) SCIMUsers(ctx context.Context, q SCIMQuery) (*SCIMList[User], error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	where, args, err := db.filterSQL(userFilterColumns, q.Filter, 0)
	if err != nil {
		return nil, err
	}
	var us []User
	total, exact, err := db.scimPage(ctx, "users", "username", where, args, q, &us, "Groups")
	if err != nil {
		return nil, err
	}
	return &SCIMList[User]{Items: us, Total: total, Exact: exact}, nil
}

// SCIMGroups returns a page of the groups matching q.Filter by name.
// Errors: ErrInvalid.
func (db *UserStore) SCIMGroups(ctx context.Context, q SCIMQuery) (*SCIMList[Group], error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	where, args, err := db.filterSQL(groupFilterColumns, q.Filter, 0)
	if err != nil {
		return nil, err
	}
	var gs []Group
	total, exact, err := db.scimPage(ctx, "groups", "name", where, args, q, &gs, "")
	if err != nil {
		return nil, err
	}
	return &SCIMList[Group]{Items: gs, Total: total, Exact: exact}, nil
}

// SCIMUser is what a SCIM client sets on a user (RFC 7643 §4.1 mapped
// onto ours): userName is the username, the primary email the email,
// displayName (or the formatted name) the display name, and active the
// opposite of disabled.
type SCIMUser struct {
	Username, Email, DisplayName, ExternalID string
	Active                                   bool
}

// CheckExternalID checks an externalId: at most 255 characters, no
// control characters.
func CheckExternalID(s string) error {
	if len(s) > 255 {
		return fmt.Errorf("%w: externalId must be at most 255 characters", ErrInvalid)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: externalId must not contain control characters", ErrInvalid)
		}
	}
	return nil
}

// CreateSCIMUser creates a user from SCIM attributes. The email is not
// marked verified: a directory says where to write, not that someone
// proved they read it. Errors: ErrInvalid, ErrConflict (username taken).
func (db *UserStore) CreateSCIMUser(ctx context.Context, in SCIMUser) (*User, error) {
	if err := CheckExternalID(in.ExternalID); err != nil {
		return nil, err
	}
	u := &User{Username: in.Username, Email: in.Email, DisplayName: strings.TrimSpace(in.DisplayName), ExternalID: in.ExternalID,
		Disabled: !in.Active}
	if err := db.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return db.UserByID(ctx, u.ID)
}

func scimUserOf(u *User) SCIMUser {
	return SCIMUser{Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, ExternalID: u.ExternalID, Active: !u.Disabled}
}

// UpdateSCIMUser changes a user in one transaction: apply gets the user's
// SCIM attributes and changes them (a replace or the operations of a
// patch); an error from apply is returned unchanged and changes nothing.
// A user made inactive is disabled with every session ended and every
// grant revoked in the same transaction (SetUserDisabled); the last
// enabled admin is not disabled (ErrLastAdmin). It returns the user
// before and after. Errors: ErrNotFound, ErrInvalid, ErrConflict.
func (db *UserStore) UpdateSCIMUser(ctx context.Context, id string, apply func(*SCIMUser) error) (before, after *User, err error) {
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		var u User
		if err := tx.First(&u, "id = ?", id).Error; err != nil {
			return fmt.Errorf("user %q: %w", id, translate(err))
		}
		before = &u
		in := scimUserOf(&u)
		if err := apply(&in); err != nil {
			return err
		}
		name, err := NormalizeUsername(in.Username)
		if err != nil {
			return err
		}
		// A new address or name is checked as CreateUser does; an
		// unchanged one is kept as stored, so that a row written before
		// the stricter checks can still be disabled or renamed.
		email, displayName := u.Email, u.DisplayName
		if in.Email != u.Email {
			if email, err = CheckEmail(in.Email); err != nil {
				return err
			}
		}
		if in.DisplayName != u.DisplayName {
			if displayName, err = CheckDisplayName(in.DisplayName); err != nil {
				return err
			}
		}
		if err := CheckExternalID(in.ExternalID); err != nil {
			return err
		}
		disabling := !in.Active && !u.Disabled
		if disabling && u.IsAdmin {
			if err := lastAdminCheck(tx, id); err != nil {
				return err
			}
		}
		set := map[string]any{"username": name, "email": email, "display_name": displayName,
			"external_id": in.ExternalID, "disabled": !in.Active, "updated_at": db.Now()}
		if email != u.Email {
			set["email_verified"] = false
		}
		if err := tx.Model(&User{}).Where("id = ?", id).Updates(set).Error; err != nil {
			if errors.Is(translate(err), ErrConflict) {
				return fmt.Errorf("%w: username %q is taken", ErrConflict, name)
			}
			return translate(err)
		}
		if disabling {
			return db.revokeUserTx(tx, id) // user.go
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	after, err = db.UserByID(ctx, id)
	return before, after, err
}

// SCIMGroupChange is a change of a group by SCIM: a new name or external
// ID, and members (user IDs) set, removed and added, in that order.
type SCIMGroupChange struct {
	Name, ExternalID *string
	// SetMembers replaces every membership when ReplaceMembers is set.
	SetMembers     []string
	ReplaceMembers bool
	RemoveMembers  []string
	AddMembers     []string
}

// CreateSCIMGroup creates a group with its members (user IDs). Errors:
// ErrInvalid (a bad name, or a member who is not a user), ErrConflict.
func (db *UserStore) CreateSCIMGroup(ctx context.Context, name, externalID string, members []string) (*Group, error) {
	name, err := NormalizeGroupName(name)
	if err != nil {
		return nil, err
	}
	if err := CheckExternalID(externalID); err != nil {
		return nil, err
	}
	g := &Group{ID: NewUUID(), Name: name, ExternalID: externalID, CreatedAt: db.Now()}
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(g).Error; err != nil {
			if errors.Is(translate(err), ErrConflict) {
				return fmt.Errorf("%w: a group named %q exists", ErrConflict, name)
			}
			return translate(err)
		}
		return addMembersTx(tx, g.ID, members)
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// UpdateSCIMGroup applies ch to a group in one transaction. Errors:
// ErrNotFound, ErrInvalid (a bad name, or a member who is not a user),
// ErrConflict (the name is taken).
func (db *UserStore) UpdateSCIMGroup(ctx context.Context, id string, ch SCIMGroupChange) (*Group, error) {
	var g Group
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.First(&g, "id = ?", id).Error; err != nil {
			return fmt.Errorf("group %q: %w", id, translate(err))
		}
		set := map[string]any{}
		if ch.Name != nil {
			name, err := NormalizeGroupName(*ch.Name)
			if err != nil {
				return err
			}
			set["name"], g.Name = name, name
		}
		if ch.ExternalID != nil {
			if err := CheckExternalID(*ch.ExternalID); err != nil {
				return err
			}
			set["external_id"], g.ExternalID = *ch.ExternalID, *ch.ExternalID
		}
		if len(set) > 0 {
			if err := tx.Model(&Group{}).Where("id = ?", id).Updates(set).Error; err != nil {
				if errors.Is(translate(err), ErrConflict) {
					return fmt.Errorf("%w: a group named %q exists", ErrConflict, g.Name)
				}
				return translate(err)
			}
		}
		if ch.ReplaceMembers {
			if err := tx.Exec("DELETE FROM user_groups WHERE group_id = ?", id).Error; err != nil {
				return translate(err)
			}
			if err := addMembersTx(tx, id, ch.SetMembers); err != nil {
				return err
			}
		}
		for _, ids := range chunks(ch.RemoveMembers, 500) {
			if err := tx.Exec("DELETE FROM user_groups WHERE group_id = ? AND user_id IN ?", id, ids).Error; err != nil {
				return translate(err)
			}
		}
		return addMembersTx(tx, id, ch.AddMembers)
	})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// addMembersTx adds users to a group; every ID must name a user.
func addMembersTx(tx *gorm.DB, groupID string, userIDs []string) error {
	for _, ids := range chunks(userIDs, 500) {
		var found []string
		if err := tx.Model(&User{}).Where("id IN ?", ids).Pluck("id", &found).Error; err != nil {
			return translate(err)
		}
		known := make(map[string]bool, len(found))
		for _, id := range found {
			known[id] = true
		}
		for _, id := range ids {
			if !known[id] {
				return fmt.Errorf("%w: member %q is not a user", ErrInvalid, id)
			}
			if err := tx.Exec("INSERT INTO user_groups (user_id, group_id) VALUES (?, ?) ON CONFLICT DO NOTHING", id, groupID).Error; err != nil {
				return translate(err)
			}
		}
	}
	return nil
}

func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}
