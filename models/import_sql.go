package models

// The statements of an import (import.go): batched lookups, multi-row
// inserts and updates, on the raw helpers of raw.go.

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// importChunk is the most rows of one multi-row INSERT: 500, well within
// SQLite's 32,766 bound variables and Postgres' 65,535.
const importChunk = 500

// existingUsers reads the users of the batch's usernames.
func (c *conn) existingUsers(ctx context.Context, batch []ImportUser) (map[string]existingUser, error) {
	out := map[string]existingUser{}
	names := make([]string, len(batch))
	for i := range batch {
		names[i] = batch[i].Username
	}
	err := c.queryIn(ctx, "SELECT id, username, disabled, is_admin, updated_at FROM users WHERE username", names, func(rows *sql.Rows) error {
		var e existingUser
		var name string
		err := rows.Scan(&e.id, &name, &e.disabled, &e.isAdmin, &e.updatedAt)
		out[name] = e
		return err
	})
	return out, err
}

// queryIn runs head + " IN (…)" for keys, importChunk at a time, and
// calls scan for each row.
func (c *conn) queryIn(ctx context.Context, head string, keys []string, scan func(*sql.Rows) error) error {
	for start := 0; start < len(keys); start += importChunk {
		part := keys[start:min(start+importChunk, len(keys))]
		args := make([]any, len(part))
		for i := range part {
			args[i] = part[i]
		}
		if err := c.queryRows(ctx, head+" IN ("+c.inList(len(part))+")", args, scan); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) queryRows(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := c.rawPool(c.tx != nil).QueryContext(ctx, q, args...)
	if err != nil {
		return c.rawErr(err)
	}
	defer func() { _ = rows.Close() }() // read only; rows.Err reports what matters
	for rows.Next() {
		if err := scan(rows); err != nil {
			return c.rawErr(err)
		}
	}
	return c.rawErr(rows.Err())
}

// inList returns n bound parameters for an IN list: "?, ?, ?", or "$1,
// $2, $3" on Postgres. Import statements are built per call, not through
// rebind's cache, whose keys would be every row count an import used.
func (c *conn) inList(n int) string {
	return c.rebindFrom(placeholders(n), 0)
}

// valueRows returns the bound parameters of rows rows of cols values:
// "(?, ?), (?, ?)", or numbered from $1 on Postgres.
func (c *conn) valueRows(rows, cols int) string {
	row := "(" + placeholders(cols) + ")"
	return c.rebindFrom(strings.TrimSuffix(strings.Repeat(row+", ", rows), ", "), 0)
}

// exec runs one statement of an import in its transaction.
func (c *conn) exec(ctx context.Context, q string, args ...any) error {
	_, err := c.rawPool(true).ExecContext(ctx, q, args...)
	return c.rawErr(err)
}

// insertRows runs INSERT INTO head VALUES … ON CONFLICT DO NOTHING (when
// ignore) for n rows of cols values, args(i) giving row i's, in chunks.
func (c *conn) insertRows(ctx context.Context, head string, cols, n int, ignore bool, args func(i int) []any) error {
	for start := 0; start < n; start += importChunk {
		end := min(start+importChunk, n)
		vals := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			vals = append(vals, args(i)...)
		}
		q := "INSERT INTO " + head + " VALUES " + c.valueRows(end-start, cols)
		if ignore {
			q += " ON CONFLICT DO NOTHING"
		}
		if err := c.exec(ctx, q, vals...); err != nil {
			return err
		}
	}
	return nil
}

// write inserts the new users and, in mode update, updates the existing
// ones, then sets the memberships of the lines that give groups.
func (im *Importer) write(ctx context.Context, c *conn, batch []ImportUser, existing map[string]existingUser) (ImportCounts, error) {
	var counts ImportCounts
	var created []*ImportUser
	ids := make(map[string]string, len(batch)) // username → ID, of the users whose groups the batch sets
	for i := range batch {
		u := &batch[i]
		e, ok := existing[u.Username]
		switch {
		case !ok:
			created = append(created, u)
			ids[u.Username] = NewUUID()
			counts.Created++
		case im.mode == ConflictUpdate:
			if err := im.update(ctx, c, u, e); err != nil {
				return ImportCounts{}, err
			}
			if u.Fields&ImportGroups != 0 {
				ids[u.Username] = e.id
			}
			counts.Updated++
		default:
			counts.Skipped++
		}
	}
	err := c.insertRows(ctx, "users (id, webauthn_id, username, email, email_verified, display_name, disabled, is_admin, custom_claims, created_at, updated_at)",
		11, len(created), false, func(i int) []any {
			u := created[i]
			return []any{ids[u.Username], newUserHandle(), u.Username, u.Email, u.EmailVerified, u.Name, u.Disabled, false, "{}", im.stamp, im.stamp}
		})
	if err != nil {
		return ImportCounts{}, fmt.Errorf("insert users: %w", err)
	}
	if err := im.setGroups(ctx, c, batch, ids); err != nil {
		return ImportCounts{}, err
	}
	return counts, nil
}

// update overwrites the fields u gives of an existing user. Disabling
// ends the user's sessions and tokens as SetUserDisabled does, and is
// refused for the last enabled admin.
func (im *Importer) update(ctx context.Context, c *conn, u *ImportUser, e existingUser) error {
	set := []string{"updated_at"}
	args := []any{im.stamp}
	for _, f := range []struct {
		field  ImportField
		column string
		value  any
	}{
		{ImportEmail, "email", u.Email}, {ImportEmailVerified, "email_verified", u.EmailVerified},
		{ImportName, "display_name", u.Name}, {ImportDisabled, "disabled", u.Disabled},
	} {
		if u.Fields&f.field != 0 {
			set = append(set, f.column)
			args = append(args, f.value)
		}
	}
	q := "UPDATE users SET " + strings.Join(set, " = ?, ") + " = ? WHERE id = ?"
	disabling := u.Fields&ImportDisabled != 0 && u.Disabled && !e.disabled
	if disabling && e.isAdmin {
		if err := lastAdminCheck(c.tx.WithContext(ctx), e.id); err != nil {
			return &LineError{u.Line, err}
		}
	}
	args = append(args, e.id)
	if err := c.exec(ctx, c.rebindFrom(q, 0), args...); err != nil {
		return fmt.Errorf("update user %q: %w", u.Username, err)
	}
	if disabling {
		if err := c.revokeUserTx(c.tx, e.id); err != nil {
			return fmt.Errorf("disable user %q: %w", u.Username, translate(err))
		}
	}
	return nil
}

// rebindFrom turns the ? placeholders of q into $after+1, … on Postgres.
func (c *conn) rebindFrom(q string, after int) string {
	if !c.postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + len(q)/2)
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			after++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(after))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// setGroups creates the groups the batch names that do not exist (by
// name, with the ID SetUserGroups would give them) and sets the
// memberships of the users in ids: added for new users, replaced for
// updated ones.
func (im *Importer) setGroups(ctx context.Context, c *conn, batch []ImportUser, ids map[string]string) error {
	var names []string
	seen := map[string]bool{}
	var replaced []any
	for i := range batch {
		u := &batch[i]
		id, ok := ids[u.Username]
		if !ok {
			continue
		}
		if u.Fields&ImportGroups != 0 && im.mode == ConflictUpdate {
			replaced = append(replaced, id)
		}
		for _, g := range u.Groups {
			if !seen[g] {
				seen[g] = true
				names = append(names, g)
			}
		}
	}
	for start := 0; start < len(replaced); start += importChunk {
		part := replaced[start:min(start+importChunk, len(replaced))]
		if err := c.exec(ctx, "DELETE FROM user_groups WHERE user_id IN ("+c.inList(len(part))+")", part...); err != nil {
			return fmt.Errorf("replace groups: %w", err)
		}
	}
	if len(names) == 0 {
		return nil
	}
	err := c.insertRows(ctx, "groups (id, name, created_at)", 3, len(names), true, func(i int) []any {
		return []any{groupID(names[i]), names[i], im.stamp}
	})
	if err != nil {
		return fmt.Errorf("create groups: %w", err)
	}
	groupIDs, err := c.groupIDs(ctx, names)
	if err != nil {
		return err
	}
	type member struct{ user, group string }
	var members []member
	for i := range batch {
		u := &batch[i]
		if id, ok := ids[u.Username]; ok {
			for _, g := range u.Groups {
				members = append(members, member{id, groupIDs[g]})
			}
		}
	}
	err = c.insertRows(ctx, "user_groups (user_id, group_id)", 2, len(members), true, func(i int) []any {
		return []any{members[i].user, members[i].group}
	})
	if err != nil {
		return fmt.Errorf("add group members: %w", err)
	}
	return nil
}

// groupIDs maps group names to IDs. A renamed group keeps the ID derived
// from its old name, so the IDs are read, not derived.
func (c *conn) groupIDs(ctx context.Context, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	err := c.queryIn(ctx, "SELECT id, name FROM groups WHERE name", names, func(rows *sql.Rows) error {
		var id, name string
		err := rows.Scan(&id, &name)
		out[name] = id
		return err
	})
	return out, err
}
