package models

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The purge keeps storage bounded by what is live (issue 18): every row
// that expires is deleted soon after, in small batches, so that a backlog
// of a million rows never holds the SQLite writer (or a Postgres lock)
// for more than one batch.

// PurgeLease is the lease (AcquireLease) a purge holds, so that one
// instance (or `latchkey purge`) purges at a time.
const PurgeLease = "purge"

// PurgeOptions tunes a purge.
type PurgeOptions struct {
	// AuditBefore: audit events created before it are deleted (the
	// retention); zero keeps them all.
	AuditBefore time.Time
	// Batch is the most rows one statement deletes (default 500).
	Batch int
	// Pause is the wait between two batches of one table, so that serving
	// requests get the writer in between (default 5 ms).
	Pause time.Duration
}

// purgeTarget is one kind of row the purge deletes: rows of table whose
// key matches where (args are bound after now), and first the rows of
// dependents (table → key column) that name them.
type purgeTarget struct {
	name, table, key, where string
	args                    func(now time.Time, o PurgeOptions) []any
	dependents              [][2]string
	skip                    func(o PurgeOptions) bool
}

func at(d time.Duration) func(time.Time, PurgeOptions) []any {
	return func(now time.Time, _ PurgeOptions) []any { return []any{now.Add(-d)} }
}

// purgeTargets lists what is deleted and when:
//   - a ceremony, auth request, pushed request, device grant, client assertion ID, DPoP proof ID, setup
//     link, email change link, access-token revocation or grant: when it expires (a device
//     grant an hour later, so a late poll still gets expired_token, RFC
//     8628 §3.5; a redeemed auth request stays until it expires so that a
//     replayed code is recognised);
//   - a browser session: when it ended, or expired and no grant names it
//     (a grant outlives the browser session it started in);
//   - an admin console session: when it ended or expired;
//   - a rate-limit counter: when its window ended;
//   - a back-channel logout: an hour after it was delivered or given up;
//   - a mail: a day after it was sent, 30 days after it was given up;
//   - a sign-up link: when it expires or is revoked; an unverified
//     sign-up: with its account (that has no passkey) when its
//     verification link expires; a verified one's row at once;
//   - a recovery code: once used;
//   - an audit event: when it is older than the retention.
var purgeTargets = []purgeTarget{
	{name: "ceremonies", table: "ceremonies", key: "id", where: "expires_at <= ?", args: at(0)},
	{name: "auth_requests", table: "auth_requests", key: "id", where: "expires_at <= ?", args: at(0)},
	{name: "device_authorizations", table: "device_authorizations", key: "id", where: "expires_at <= ?", args: at(time.Hour)},
	{name: "pushed_requests", table: "pushed_requests", key: "id_hash", where: "expires_at <= ?", args: at(0)},
	{name: "client_assertions", table: "client_assertions", key: "jti", where: "expires_at <= ?", args: at(0)},
	{name: "dpop_proofs", table: "dpop_proofs", key: "jti_hash", where: "expires_at <= ?", args: at(0)},
	{name: "setup_tokens", table: "setup_tokens", key: "id", where: "expires_at <= ?", args: at(0)},
	{name: "email_changes", table: "email_changes", key: "id", where: "expires_at <= ?", args: at(0)},
	// A grant: found on purge_after (migration 00031), which is at most
	// GrantPurgeSlack past its expiry.
	{name: "grants", table: "grants", key: "id", where: "purge_after <= ? AND expires_at <= ?",
		args: func(now time.Time, _ PurgeOptions) []any { return []any{now.Add(GrantPurgeSlack), now} }},
	{name: "revoked_access_tokens", table: "revoked_access_tokens", key: "id_hash", where: "expires_at <= ?", args: at(0)},
	// Ended and expired sessions are two rules, so that each reads an
	// index (an OR of the two would scan the table).
	{name: "sessions", table: "sessions", key: "id", args: at(0), dependents: [][2]string{{"session_clients", "session_id"}},
		where: "ended_at <= ? AND NOT EXISTS (SELECT 1 FROM grants WHERE grants.session_id = sessions.id)"},
	{name: "sessions", table: "sessions", key: "id", args: at(0), dependents: [][2]string{{"session_clients", "session_id"}},
		where: "expires_at <= ? AND NOT EXISTS (SELECT 1 FROM grants WHERE grants.session_id = sessions.id)"},
	{name: "admin_sessions", table: "admin_sessions", key: "id", where: "ended_at <= ?", args: at(0)},
	{name: "admin_sessions", table: "admin_sessions", key: "id", where: "expires_at <= ?", args: at(0)},
	{name: "rate_limit_buckets", table: "rate_limit_buckets", key: "bucket", where: "window_end < ?",
		args: func(now time.Time, _ PurgeOptions) []any { return []any{now.Unix()} }},
	{name: "backchannel_logouts", table: "backchannel_logouts", key: "id", args: at(time.Hour),
		where: "(delivered_at IS NOT NULL OR failed_at IS NOT NULL) AND created_at <= ?"},
	// Mail: a day after it was sent, 30 days after it was given up (the
	// console lists undeliverable messages until then).
	{name: "outbox", table: "outbox", key: "id", where: "sent_at IS NOT NULL AND sent_at <= ?", args: at(24 * time.Hour)},
	{name: "outbox", table: "outbox", key: "id", where: "failed_at IS NOT NULL AND failed_at <= ?", args: at(30 * 24 * time.Hour)},
	// Sign-up links: when they expire or are revoked. An account that
	// signed up and never verified its address (and so has no passkey):
	// when its verification link expires, with what names it. A verified
	// sign-up's row: at once (the account stays).
	{name: "signup_links", table: "signup_links", key: "id", where: "expires_at <= ?", args: at(0)},
	{name: "signup_links", table: "signup_links", key: "id", where: "revoked_at <= ?", args: at(0)},
	// What names such an account (its sign-up, setup links, mail) goes
	// with it: those foreign keys cascade.
	{name: "signup_accounts", table: "users", key: "id", args: at(0),
		where: "id IN (SELECT user_id FROM signups WHERE verified_at IS NULL AND expires_at <= ?)" +
			" AND NOT EXISTS (SELECT 1 FROM credentials WHERE credentials.user_id = users.id)"},
	{name: "signups", table: "signups", key: "user_id", where: "verified_at <= ?", args: at(0)},
	// Recovery codes: once used (an unknown code is refused as a used one).
	{name: "recovery_codes", table: "recovery_codes", key: "id", where: "used_at <= ?", args: at(0)},
	{name: "audit_events", table: "audit_events", key: "id", where: "created_at < ?",
		args: func(_ time.Time, o PurgeOptions) []any { return []any{o.AuditBefore.UTC()} },
		skip: func(o PurgeOptions) bool { return o.AuditBefore.IsZero() }},
}

// PurgeTables names what Purge counts, in its order (for metrics).
func PurgeTables() []string {
	var out []string
	for _, t := range purgeTargets {
		if !slices.Contains(out, t.name) {
			out = append(out, t.name)
		}
	}
	return out
}

// Purge deletes every row that is no longer needed (purgeTargets) and
// returns how many it deleted per table, also when it stops early: on an
// error or when ctx ends. It is safe beside running servers: each batch
// is its own short statement (or transaction), and what it deletes is
// dead to every reader already.
func (db *DB) Purge(ctx context.Context, o PurgeOptions) (map[string]int64, error) {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Pause <= 0 {
		o.Pause = 5 * time.Millisecond
	}
	counts := map[string]int64{}
	for _, t := range purgeTargets {
		if t.skip != nil && t.skip(o) {
			continue
		}
		for {
			n, err := db.purgeBatch(ctx, t, db.Now(), o)
			counts[t.name] += n
			if err != nil {
				return counts, fmt.Errorf("purge %s: %w", t.name, err)
			}
			if n < int64(o.Batch) {
				break
			}
			select {
			case <-ctx.Done():
				return counts, ctx.Err()
			case <-time.After(o.Pause):
			}
		}
	}
	return counts, nil
}

// purgeBatch deletes at most o.Batch rows of t (and their dependents).
func (db *DB) purgeBatch(ctx context.Context, t purgeTarget, now time.Time, o PurgeOptions) (int64, error) {
	args := append(t.args(now, o), o.Batch)
	pick := "SELECT " + t.key + " FROM " + t.table + " WHERE " + t.where + " LIMIT ?"
	if len(t.dependents) == 0 {
		// The condition again: a key need not be unique (client_assertions)
		// and a row may have changed since the pick (a grant rotated).
		res, err := db.rawExec(ctx, db.rawPool(true), "DELETE FROM "+t.table+" WHERE "+t.key+" IN ("+pick+") AND "+t.where,
			append(args, t.args(now, o)...)...)
		db.yieldIfWriter()
		if err != nil {
			return 0, translate(err)
		}
		n, err := res.RowsAffected()
		return n, translate(err)
	}
	var n int64
	err := db.InTx(ctx, func(tx *DB) error {
		var keys []string
		if err := tx.ctx(ctx).Raw(pick, args...).Scan(&keys).Error; err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		for _, d := range t.dependents {
			if err := tx.ctx(ctx).Exec("DELETE FROM "+d[0]+" WHERE "+d[1]+" IN ?", keys).Error; err != nil {
				return err
			}
		}
		res := tx.ctx(ctx).Exec("DELETE FROM "+t.table+" WHERE "+t.key+" IN ? AND "+t.where, append([]any{keys}, t.args(now, o)...)...)
		n = res.RowsAffected
		return res.Error
	})
	return n, translate(err)
}
