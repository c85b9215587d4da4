package mail

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/models"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

// openDB opens a fresh migrated database (SQLite, or a Postgres schema in
// the Postgres run) on clk, with a test master key.
func openDB(t *testing.T, clk *clock) (*models.DB, *models.Sealer) {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, models.Options{DSN: dbtest.DSN(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sealer, err := models.NewSealer(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return db, sealer
}

func newUser(t *testing.T, db *models.DB, username, email string) *models.User {
	t.Helper()
	u := &models.User{Username: username, Email: email, DisplayName: "Ada " + username}
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}
