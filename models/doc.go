// Package models holds Latchkey's persistent state: the GORM models, Open for
// SQLite or Postgres, the versioned SQL migrations (goose, embedded), and the
// queries the other packages use. It imports gorm and the standard library
// only; WebAuthn, OIDC and HTTP types never enter it.
//
// Errors crossing the package boundary are ErrNotFound, ErrConflict,
// ErrExpired or wrap them, so callers never see driver errors.
//
// The repository is split by aggregate (store.go): UserStore,
// CredentialStore, CeremonyStore, ClientStore, GrantStore, SessionStore,
// KeyStore, AuditStore, PolicyStore and AdminStore each own their tables
// and share one conn (the GORM handle, the clock, the pools). DB composes
// them with Open, Migrate, InTx and the background-job helpers (leases,
// rate-limit buckets, purges). Queries go through GORM; raw.go holds the
// few hand-written statements of the hot paths, each measured faster and
// checked against GORM on both backends (raw_test.go).
//
// Secrets handed out by Latchkey (setup tokens, session cookies, refresh
// tokens, API tokens, client secrets) are high-entropy random strings; only
// their SHA-256 hash (HashToken) is stored. Private keys are sealed with the
// master key (Sealer, AES-256-GCM) before they reach the database.
package models
