package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// UserProfile holds the fields an admin can edit.
type UserProfile struct {
	Username      string
	Email         string
	EmailVerified bool
	DisplayName   string
	IsAdmin       bool
	CustomClaims  JSONMap
}

// reservedClaims cannot be set as custom claims: they would override what
// the provider asserts (OIDC Core §2, §5.1).
var reservedClaims = map[string]bool{
	"sub": true, "iss": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true, "auth_time": true,
	"nonce": true, "acr": true, "amr": true, "azp": true, "at_hash": true, "c_hash": true, "sid": true,
	"name": true, "preferred_username": true, "email": true, "email_verified": true, "groups": true, "updated_at": true,
}

// CheckCustomClaims refuses claim names the provider asserts itself.
func CheckCustomClaims(m JSONMap) error {
	for k := range m {
		if reservedClaims[k] || strings.TrimSpace(k) == "" {
			return fmt.Errorf("%w: %q cannot be a custom claim", ErrInvalid, k)
		}
	}
	return nil
}

// UpdateUser saves an admin's edit of a user. Removing the admin role from
// the last enabled admin is refused (ErrInvalid), so the console cannot be
// locked. Errors: ErrInvalid, ErrConflict (username taken), ErrNotFound.
func (db *UserStore) UpdateUser(ctx context.Context, id string, p UserProfile) error {
	name, err := NormalizeUsername(p.Username)
	if err != nil {
		return err
	}
	email := strings.TrimSpace(p.Email)
	if email != "" && (!strings.Contains(email, "@") || len(email) > 254) {
		return fmt.Errorf("%w: email %q is not an address", ErrInvalid, email)
	}
	if p.CustomClaims == nil {
		p.CustomClaims = JSONMap{}
	}
	if err := CheckCustomClaims(p.CustomClaims); err != nil {
		return err
	}
	return db.transaction(ctx, func(tx *gorm.DB) error {
		var u User
		if err := tx.First(&u, "id = ?", id).Error; err != nil {
			return fmt.Errorf("user %q: %w", id, translate(err))
		}
		if u.IsAdmin && !p.IsAdmin && !u.Disabled {
			if err := lastAdminCheck(tx, id); err != nil {
				return err
			}
		}
		err := tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{
			"username": name, "email": email, "email_verified": p.EmailVerified, "display_name": strings.TrimSpace(p.DisplayName),
			"is_admin": p.IsAdmin, "custom_claims": p.CustomClaims, "updated_at": db.Now(),
		}).Error
		if err != nil {
			if errors.Is(translate(err), ErrConflict) {
				return fmt.Errorf("%w: username %q is taken", ErrConflict, name)
			}
			return translate(err)
		}
		return nil
	})
}

// ErrLastAdmin is returned when a change would leave no enabled admin.
var ErrLastAdmin = fmt.Errorf("%w: this is the last enabled admin; make another user an admin first", ErrInvalid)

func lastAdminCheck(tx *gorm.DB, exceptID string) error {
	var n int64
	if err := tx.Model(&User{}).Where("is_admin = ? AND disabled = ? AND id <> ?", true, false, exceptID).Count(&n).Error; err != nil {
		return translate(err)
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// CheckNotLastAdmin returns ErrLastAdmin when id is the only enabled admin.
func (db *UserStore) CheckNotLastAdmin(ctx context.Context, id string) error {
	var u User
	if err := db.ctx(ctx).First(&u, "id = ?", id).Error; err != nil {
		return fmt.Errorf("user %q: %w", id, translate(err))
	}
	if !u.IsAdmin || u.Disabled {
		return nil
	}
	return lastAdminCheck(db.ctx(ctx), id)
}

// DeleteUser deletes a user; passkeys, sessions, setup links and tokens go
// with it (foreign keys cascade). The last enabled admin cannot be deleted.
func (db *UserStore) DeleteUser(ctx context.Context, id string) error {
	if err := db.CheckNotLastAdmin(ctx, id); err != nil {
		return err
	}
	return db.transaction(ctx, func(tx *gorm.DB) error {
		if err := db.revokeUserTx(tx, id); err != nil {
			return translate(err)
		}
		res := tx.Where("id = ?", id).Delete(&User{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("user %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// GroupInfo is a group with its member count.
type GroupInfo struct {
	Group
	Members int64
}

// NormalizeGroupName trims a group name and checks it: 1–64 characters
// without control characters or commas (names are listed comma-separated).
func NormalizeGroupName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 || strings.ContainsAny(s, ",\n\r\t") {
		return "", fmt.Errorf("%w: group name must be 1 to 64 characters, without commas", ErrInvalid)
	}
	return s, nil
}

// CreateGroup creates a group. Errors: ErrInvalid, ErrConflict.
func (db *UserStore) CreateGroup(ctx context.Context, name string) (*Group, error) {
	name, err := NormalizeGroupName(name)
	if err != nil {
		return nil, err
	}
	g := &Group{ID: NewUUID(), Name: name, CreatedAt: db.Now()}
	if err := db.ctx(ctx).Create(g).Error; err != nil {
		if errors.Is(translate(err), ErrConflict) {
			return nil, fmt.Errorf("%w: a group named %q exists", ErrConflict, name)
		}
		return nil, translate(err)
	}
	return g, nil
}

// GroupByID loads a group.
func (db *UserStore) GroupByID(ctx context.Context, id string) (*Group, error) {
	var g Group
	if err := db.ctx(ctx).First(&g, "id = ?", id).Error; err != nil {
		return nil, fmt.Errorf("group %q: %w", id, translate(err))
	}
	return &g, nil
}

// GroupByName loads a group by its exact name. Errors: ErrNotFound.
func (db *UserStore) GroupByName(ctx context.Context, name string) (*Group, error) {
	var g Group
	if err := db.ctx(ctx).First(&g, "name = ?", strings.TrimSpace(name)).Error; err != nil {
		return nil, fmt.Errorf("group %q: %w", name, translate(err))
	}
	return &g, nil
}

// RenameGroup renames a group. Errors: ErrInvalid, ErrConflict, ErrNotFound.
func (db *UserStore) RenameGroup(ctx context.Context, id, name string) error {
	name, err := NormalizeGroupName(name)
	if err != nil {
		return err
	}
	res := db.ctx(ctx).Model(&Group{}).Where("id = ?", id).Update("name", name)
	if res.Error != nil {
		if errors.Is(translate(res.Error), ErrConflict) {
			return fmt.Errorf("%w: a group named %q exists", ErrConflict, name)
		}
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("group %q: %w", id, ErrNotFound)
	}
	return nil
}

// SetGroupRecovery turns self-service recovery off (disabled) or on again
// for the members of a group. Errors: ErrNotFound.
func (db *UserStore) SetGroupRecovery(ctx context.Context, id string, disabled bool) error {
	res := db.ctx(ctx).Model(&Group{}).Where("id = ?", id).Update("recovery_disabled", disabled)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("group %q: %w", id, ErrNotFound)
	}
	return nil
}

// RecoveryDisabledFor reports whether the user is in a group whose
// members may not recover by email (one indexed lookup per group of the
// user).
func (db *UserStore) RecoveryDisabledFor(ctx context.Context, userID string) (bool, error) {
	var off bool
	err := db.rawRow(ctx, db.rawPool(false), "SELECT EXISTS (SELECT 1 FROM user_groups ug JOIN groups g ON g.id = ug.group_id"+
		" WHERE ug.user_id = ? AND g.recovery_disabled)", userID).Scan(&off) // raw.go
	if err != nil {
		return false, fmt.Errorf("group recovery policy: %w", db.rawErr(err))
	}
	return off, nil
}

// DeleteGroup deletes a group (memberships cascade).
func (db *UserStore) DeleteGroup(ctx context.Context, id string) error {
	res := db.ctx(ctx).Where("id = ?", id).Delete(&Group{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("group %q: %w", id, ErrNotFound)
	}
	return nil
}

// AddGroupMember adds a user to a group (no-op if already a member).
func (db *UserStore) AddGroupMember(ctx context.Context, groupID, userID string) error {
	if _, err := db.GroupByID(ctx, groupID); err != nil {
		return err
	}
	if _, err := db.UserByID(ctx, userID); err != nil {
		return err
	}
	return translate(db.ctx(ctx).Exec("INSERT INTO user_groups (user_id, group_id) VALUES (?, ?) ON CONFLICT DO NOTHING", userID, groupID).Error)
}

// RemoveGroupMember removes a user from a group.
func (db *UserStore) RemoveGroupMember(ctx context.Context, groupID, userID string) error {
	return translate(db.ctx(ctx).Exec("DELETE FROM user_groups WHERE user_id = ? AND group_id = ?", userID, groupID).Error)
}

// DeleteClient deletes a client and, by cascade, its tokens and pending
// auth requests. Built-in clients cannot be deleted.
func (db *ClientStore) DeleteClient(ctx context.Context, id string) error {
	res := db.ctx(ctx).Where("id = ? AND builtin = ?", id, false).Delete(&Client{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	db.clientsChanged.Add(1)
	return nil
}

// ConnectedApp is a client holding live tokens for a user.
type ConnectedApp struct {
	ClientID string
	Name     string
	LastUsed time.Time
}

// ConnectedApps lists the clients that hold a live grant for the user,
// most recently used first.
func (db *UserStore) ConnectedApps(ctx context.Context, userID string) ([]ConnectedApp, error) {
	var rows []struct {
		ClientID  string
		Name      string
		UpdatedAt time.Time
	}
	err := db.ctx(ctx).Raw("SELECT g.client_id, c.name, g.updated_at FROM grants g JOIN clients c ON c.id = g.client_id"+
		" WHERE g.user_id = ? AND g.expires_at > ?", userID, db.Now()).Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	var out []ConnectedApp
	seen := map[string]int{}
	for _, r := range rows {
		i, ok := seen[r.ClientID]
		if !ok {
			seen[r.ClientID] = len(out)
			out = append(out, ConnectedApp{ClientID: r.ClientID, Name: r.Name, LastUsed: r.UpdatedAt})
		} else if r.UpdatedAt.After(out[i].LastUsed) {
			out[i].LastUsed = r.UpdatedAt
		}
	}
	sortApps(out)
	return out, nil
}

func sortApps(a []ConnectedApp) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].LastUsed.After(a[j-1].LastUsed); j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// Counts are the totals shown on the console overview.
type Counts struct {
	Users, DisabledUsers, Admins, Groups, Clients, Passkeys, ActiveSessions int64
}

// CountAll returns the overview totals.
func (db *DB) CountAll(ctx context.Context) (*Counts, error) {
	var c Counts
	now := db.Now()
	for _, q := range []struct {
		n     *int64
		model any
		where string
		args  []any
	}{
		{&c.Users, &User{}, "1 = 1", nil},
		// Literal conditions, so that SQLite can use the partial indexes
		// (users_disabled, idx_users_admins): a bound parameter cannot.
		{&c.DisabledUsers, &User{}, "disabled", nil},
		{&c.Admins, &User{}, "is_admin AND NOT disabled", nil},
		{&c.Groups, &Group{}, "1 = 1", nil},
		{&c.Clients, &Client{}, "builtin = ?", []any{false}},
		{&c.Passkeys, &Credential{}, "1 = 1", nil},
		{&c.ActiveSessions, &Session{}, "ended_at IS NULL AND expires_at > ?", []any{now}},
	} {
		if err := db.ctx(ctx).Model(q.model).Where(q.where, q.args...).Count(q.n).Error; err != nil {
			return nil, translate(err)
		}
	}
	return &c, nil
}

// UserListing is one row of a paged user list.
type UserListing struct {
	User
	Passkeys int
}

// MaxListLimit bounds a page of ListUsersPage.
const MaxListLimit = 1000

// ListUsersPage returns up to limit users (1 to MaxListLimit) ordered by
// username, after the cursor after (a username; "" for the first page),
// whose username, email or display name starts with prefix (case
// insensitively; "" for all), with their groups and passkey counts: a
// full page means another may follow. See SearchUsers.
// Errors: ErrInvalid for a limit out of range.
func (db *UserStore) ListUsersPage(ctx context.Context, after, prefix string, limit int) ([]UserListing, error) {
	us, _, err := db.SearchUsers(ctx, UserSearch{PageQuery: PageQuery{After: after, Limit: limit}, Prefix: prefix})
	return us, err
}
