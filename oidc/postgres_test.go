package oidc

import (
	"testing"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// TestPostgres runs every test of this package again on Postgres
// (LATCHKEY_TEST_POSTGRES), so the storage behaviour is proven on both backends.
func TestPostgres(t *testing.T) { dbtest.RerunOnPostgres(t, "") }
