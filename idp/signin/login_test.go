package signin

import (
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

func TestNeedsFreshSignIn(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := &models.Session{AuthTime: now.Add(-10 * time.Minute)}
	age := func(s int64) *int64 { return &s }
	for _, tc := range []struct {
		name string
		ar   models.AuthRequest
		want bool
	}{
		{"no prompt, no max_age", models.AuthRequest{}, false},
		{"prompt=login", models.AuthRequest{Prompt: models.StringList{"login"}}, true},
		{"prompt=select_account", models.AuthRequest{Prompt: models.StringList{"select_account"}}, true},
		{"prompt=consent", models.AuthRequest{Prompt: models.StringList{"consent"}}, false},
		{"max_age not reached", models.AuthRequest{MaxAge: age(3600)}, false},
		{"max_age exceeded", models.AuthRequest{MaxAge: age(60)}, true},
		{"max_age=0", models.AuthRequest{MaxAge: age(0)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsFreshSignIn(&tc.ar, sess, now); got != tc.want {
				t.Fatalf("needsFreshSignIn = %v, want %v", got, tc.want)
			}
		})
	}
}
