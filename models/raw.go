package models

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// Hand-written SQL for the statements every sign-in, token request and
// userinfo call runs (raw_test.go checks each against GORM on both
// backends).
//
// GORM builds each statement by reflection and scans rows the same way;
// for a client row that was ~45 µs of Go per read against ~20 µs with a
// fixed column list and database/sql's Scan (BenchmarkClientByID), and a
// sign-in flow runs some twenty such statements. These functions keep the
// repository's behaviour: the same routing (ctx's InTx transaction, else
// the SQLite reader pool for reads and the writer for writes, or the
// Postgres pool), the same errors (ErrNotFound, ErrConflict through the
// dialect's error translation) and the same values (GORM's clock for
// CreatedAt). Queries are written with ? and rebound to $n on Postgres.

// rawPool returns where a hand-written statement runs.
func (db *conn) rawPool(write bool) gorm.ConnPool {
	if db.tx != nil {
		return db.tx.Statement.ConnPool
	}
	if db.writer != nil {
		if write {
			return db.writer
		}
		return db.pools[1]
	}
	return db.pools[0]
}

var rebound sync.Map // query → Postgres form

// rebind turns ? placeholders into $1, $2 … on Postgres. The queries of
// this file hold no ? other than placeholders.
func (db *conn) rebind(q string) string {
	if db.trace != nil {
		db.trace(q)
	}
	if !db.postgres {
		return q
	}
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	rebound.Store(q, b.String())
	return b.String()
}

// rawErr maps driver errors as GORM's TranslateError does, then to the
// repository's errors.
func (db *conn) rawErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	db.observeWrite(err) // health.go
	if tr, ok := db.gorm.Dialector.(gorm.ErrorTranslator); ok {
		err = tr.Translate(err)
	}
	return translate(err)
}

// rawExec runs a write. Outside a transaction on SQLite it then yields,
// as every GORM statement on the writer does (db.go, yield_writer).
func (db *conn) rawExec(ctx context.Context, pool gorm.ConnPool, q string, args ...any) (sql.Result, error) {
	res, err := pool.ExecContext(ctx, db.rebind(q), args...)
	if db.writer != nil && pool == gorm.ConnPool(db.writer) {
		runtime.Gosched()
	}
	return res, db.rawErr(err)
}

// rawAffected is rawExec returning the number of rows changed.
func (db *conn) rawAffected(ctx context.Context, pool gorm.ConnPool, q string, args ...any) (int64, error) {
	res, err := db.rawExec(ctx, pool, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// rawRow runs a query of one row; scan reads it.
func (db *conn) rawRow(ctx context.Context, pool gorm.ConnPool, q string, args ...any) *sql.Row {
	return pool.QueryRowContext(ctx, db.rebind(q), args...)
}

const clientColumns = "id, secret_hash, name, public, redirect_uris, post_logout_redirect_uris, allowed_scopes, allowed_groups, " +
	"id_token_alg, access_token_format, access_token_ttl, id_token_ttl, refresh_token_ttl, builtin, backchannel_logout_uri, " +
	"skip_consent, access_token_audience, jwks, id_token_claims, require_par, require_pkce, require_dpop, launch_url, logo_url, logo_type, profile, registered_by, registration_token_hash, created_at, updated_at"

func scanClient(row *sql.Row, c *Client) error {
	return row.Scan(&c.ID, &c.SecretHash, &c.Name, &c.Public, &c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.AllowedScopes, &c.AllowedGroups,
		&c.IDTokenAlg, &c.AccessTokenFormat, &c.AccessTokenTTL, &c.IDTokenTTL, &c.RefreshTokenTTL, &c.Builtin, &c.BackchannelLogoutURI,
		&c.SkipConsent, &c.AccessTokenAudience, &c.JWKS, &c.IDTokenClaims, &c.RequirePAR, &c.RequirePKCE, &c.RequireDPoP, &c.LaunchURL, &c.LogoURL, &c.LogoType, &c.Profile, &c.RegisteredBy, &c.RegistrationTokenHash, &c.CreatedAt, &c.UpdatedAt)
}

const authRequestColumns = "id, client_id, redirect_uri, state, nonce, scopes, response_type, response_mode, code_challenge, " +
	"code_challenge_method, prompt, max_age, login_hint, acr_values, ui_locales, user_id, session_id, auth_time, amr, acr, done, " +
	"consent_pending, code_hash, code_expires_at, code_used_at, login_challenge, login_challenge_expires_at, created_at, expires_at, dpop_jkt, claims"

func authRequestArgs(a *AuthRequest) []any {
	return []any{a.ID, a.ClientID, a.RedirectURI, a.State, a.Nonce, a.Scopes, a.ResponseType, a.ResponseMode, a.CodeChallenge,
		a.CodeChallengeMethod, a.Prompt, a.MaxAge, a.LoginHint, a.ACRValues, a.UILocales, a.UserID, a.SessionID, a.AuthTime, a.AMR, a.ACR, a.Done,
		a.ConsentPending, a.CodeHash, a.CodeExpiresAt, a.CodeUsedAt, a.LoginChallenge, a.LoginChallengeExpiresAt, a.CreatedAt, a.ExpiresAt, a.DPoPJKT, a.Claims}
}

func scanAuthRequest(row *sql.Row, a *AuthRequest) error {
	return row.Scan(&a.ID, &a.ClientID, &a.RedirectURI, &a.State, &a.Nonce, &a.Scopes, &a.ResponseType, &a.ResponseMode, &a.CodeChallenge,
		&a.CodeChallengeMethod, &a.Prompt, &a.MaxAge, &a.LoginHint, &a.ACRValues, &a.UILocales, &a.UserID, &a.SessionID, &a.AuthTime, &a.AMR, &a.ACR, &a.Done,
		&a.ConsentPending, &a.CodeHash, &a.CodeExpiresAt, &a.CodeUsedAt, &a.LoginChallenge, &a.LoginChallengeExpiresAt, &a.CreatedAt, &a.ExpiresAt, &a.DPoPJKT, &a.Claims)
}

const userColumns = "id, webauthn_id, username, email, email_verified, display_name, disabled, is_admin, custom_claims, locale, created_at, updated_at"

func scanUser(row *sql.Row, u *User) error {
	return row.Scan(userScanDest(u)...)
}

// userScanDest are the destinations of userColumns, in order.
func userScanDest(u *User) []any {
	return []any{&u.ID, &u.WebAuthnID, &u.Username, &u.Email, &u.EmailVerified, &u.DisplayName, &u.Disabled, &u.IsAdmin, &u.CustomClaims,
		&u.Locale, &u.CreatedAt, &u.UpdatedAt}
}

const sessionColumns = "id, token_hash, user_id, credential_id, auth_time, amr, acr, user_agent, ip, created_at, last_seen_at, expires_at, ended_at"

func sessionArgs(s *Session) []any {
	return []any{s.ID, s.TokenHash, s.UserID, s.CredentialID, s.AuthTime, s.AMR, s.ACR, s.UserAgent, s.IP, s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.EndedAt}
}

// prefixColumns qualifies each column of a list like userColumns with an
// alias: prefixColumns("a, b", "u.") is "u.a, u.b".
func prefixColumns(list, alias string) string {
	return alias + strings.ReplaceAll(list, ", ", ", "+alias)
}

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

var (
	insertAuthRequestSQL = "INSERT INTO auth_requests (" + authRequestColumns + ") VALUES (" + placeholders(31) + ")"
	insertSessionSQL     = "INSERT INTO sessions (" + sessionColumns + ") VALUES (" + placeholders(13) + ")"
)

// yieldIfWriter yields after a write that used the SQLite writer outside a
// transaction (rawRow writes: INSERT … RETURNING, UPDATE … RETURNING).
func (db *conn) yieldIfWriter() {
	if db.writer != nil && db.tx == nil {
		runtime.Gosched()
	}
}

const credentialColumns = "id, user_id, credential_id, public_key, attestation_type, attestation_format, aaguid, transports, user_present, " +
	"user_verified, backup_eligible, backup_state, sign_count, clone_warning, name, created_at, last_used_at, attestation_verified, policy_flagged_at"

func scanCredential(rows *sql.Rows, c *Credential) error {
	return rows.Scan(&c.ID, &c.UserID, &c.CredentialID, &c.PublicKey, &c.AttestationType, &c.AttestationFormat, &c.AAGUID, &c.Transports, &c.UserPresent,
		&c.UserVerified, &c.BackupEligible, &c.BackupState, &c.SignCount, &c.CloneWarning, &c.Name, &c.CreatedAt, &c.LastUsedAt, &c.AttestationVerified, &c.PolicyFlaggedAt)
}
