// Package models holds Latchkey's persistent state: the GORM models, Open for
// SQLite or Postgres, the versioned SQL migrations (goose, embedded), and the
// queries the other packages use. It imports gorm and the standard library
// only; WebAuthn, OIDC and HTTP types never enter it.
//
// Errors crossing the package boundary are ErrNotFound, ErrConflict,
// ErrExpired or wrap them, so callers never see driver errors.
//
// Secrets handed out by Latchkey (setup tokens, session cookies, refresh
// tokens, API tokens, client secrets) are high-entropy random strings; only
// their SHA-256 hash (HashToken) is stored. Private keys are sealed with the
// master key (Sealer, AES-256-GCM) before they reach the database.
package models
