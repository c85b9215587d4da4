package models

import (
	"database/sql"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// conn is what every store shares: the GORM handle, the clock and the
// backend's pools. Its methods (ctx, transaction, the raw helpers in
// raw.go) are the only way stores reach the database.
type conn struct {
	gorm        *gorm.DB
	now         func() time.Time
	postgres    bool
	pools       []*sql.DB                          // every connection pool: Postgres; or SQLite writer, readers
	writer      *sql.DB                            // SQLite's writer pool; nil on Postgres
	checkpoints *checkpointer                      // SQLite's WAL checkpoints (checkpoint.go); nil on Postgres
	onAudit     *atomic.Pointer[func(*AuditEvent)] // observe.go; shared with transactions
	// onCredential is the passkey change hook (credential_hook.go);
	// shared with transactions.
	onCredential *atomic.Pointer[CredentialHook]
	// clientsChanged counts changes to clients through this DB (client.go
	// ClientsVersion); shared with transactions.
	clientsChanged *atomic.Int64
	// health counts write failures (health.go); shared with transactions.
	health *writeHealth
	// tx, when set, is the transaction every statement of this conn runs
	// in (InTx).
	tx *gorm.DB
	// trace, when set (tests), sees every hand-written statement (raw.go).
	trace func(q string)
}

// The repository is split by aggregate: each store owns the tables of one
// aggregate and its purge rule. DB embeds them all, so a holder of *DB calls db.UserByID as before; a
// consumer that needs one aggregate takes just that store (db.UserStore)
// or declares the few methods it uses as its own interface.
type (
	// UserStore holds users, groups and group membership (user.go, user_admin.go).
	UserStore struct{ *conn }
	// CredentialStore holds passkeys and the setup tokens that enroll them
	// (credential.go, setup.go).
	CredentialStore struct{ *conn }
	// CeremonyStore holds single-use WebAuthn challenge rows (ceremony.go).
	CeremonyStore struct{ *conn }
	// ClientStore holds OAuth clients and their one-time assertion IDs
	// (client.go, assertion.go).
	ClientStore struct{ *conn }
	// GrantStore holds auth requests, codes, consents, device authorizations,
	// access and refresh tokens (authrequest.go, consent.go, device.go,
	// token.go).
	GrantStore struct{ *conn }
	// SessionStore holds browser sessions and their back-channel logouts
	// (session.go, backchannel.go).
	SessionStore struct{ *conn }
	// KeyStore holds signing keys and sealed secrets (signingkey.go, secret.go).
	KeyStore struct{ *conn }
	// AuditStore holds the audit log and its queries (audit.go, audit_query.go).
	AuditStore struct{ *conn }
	// PolicyStore holds group passkey policies, credential flags and FIDO
	// metadata blobs (policy.go).
	PolicyStore struct{ *conn }
	// AdminStore holds admin API tokens and console sessions (apitoken.go).
	AdminStore struct{ *conn }
	// MailStore holds the mail outbox (outbox.go).
	MailStore struct{ *conn }
)

func newDB(c *conn) *DB {
	return &DB{
		conn:            c,
		UserStore:       UserStore{c},
		CredentialStore: CredentialStore{c},
		CeremonyStore:   CeremonyStore{c},
		ClientStore:     ClientStore{c},
		GrantStore:      GrantStore{c},
		SessionStore:    SessionStore{c},
		KeyStore:        KeyStore{c},
		AuditStore:      AuditStore{c},
		PolicyStore:     PolicyStore{c},
		AdminStore:      AdminStore{c},
		MailStore:       MailStore{c},
	}
}
