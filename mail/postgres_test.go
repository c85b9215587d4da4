package mail

import (
	"testing"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// TestPostgres runs this package's tests again on Postgres.
func TestPostgres(t *testing.T) { dbtest.RerunOnPostgres(t, "") }
