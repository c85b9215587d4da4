package models

import (
	"context"

	"gorm.io/gorm"
)

// CredentialChange is a passkey added to or removed from an account, or
// (NewProvider) the first sign-in with a passkey whose provider (AAGUID)
// no earlier sign-in on the account used.
type CredentialChange struct {
	Added       bool       // false: removed (unless NewProvider)
	NewProvider bool       // a sign-in, nothing added or removed
	Credential  Credential // the row (when removed: as it was)
}

// CredentialHook runs inside the transaction that adds or removes a
// passkey, with tx bound to it: what it writes commits with the change,
// and an error from it rolls the change back.
type CredentialHook func(ctx context.Context, tx *DB, ch CredentialChange) error

// OnCredentialChange registers fn for every passkey added
// (AddCredentialWithSetupToken) or removed (DeleteCredential) through this
// DB, and for the first sign-in from a new provider
// (UpdateCredentialAfterLogin); the owner's notice email is queued this way (idp/mail.go). A later
// call replaces fn.
func (db *DB) OnCredentialChange(fn CredentialHook) { db.onCredential.Store(&fn) }

// credentialChanged calls the hook, if any, on the transaction gtx.
func (db *conn) credentialChanged(ctx context.Context, gtx *gorm.DB, ch CredentialChange) error {
	if db.onCredential == nil {
		return nil
	}
	fn := db.onCredential.Load()
	if fn == nil {
		return nil
	}
	c := *db
	c.tx = gtx
	return (*fn)(ctx, newDB(&c), ch)
}

// hasCredentialHook reports whether a hook is registered.
func (db *conn) hasCredentialHook() bool {
	return db.onCredential != nil && db.onCredential.Load() != nil
}
