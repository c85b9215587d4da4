package passkeys

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// fuzzService is a Service over a fresh SQLite database for fuzz targets
// (they get a *testing.F, so newEnv does not fit).
func fuzzService(f *testing.F) *Service {
	f.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, models.Options{DSN: filepath.Join(f.TempDir(), "fuzz.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { closeDB(f, db) })
	if err := db.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	svc, err := New(Config{RPID: testRPID, RPDisplayName: "Latchkey", RPOrigins: []string{testOrigin}}, db)
	if err != nil {
		f.Fatal(err)
	}
	return svc
}

var fuzzSeeds = []string{
	``, `{}`, `null`, `[]`, `{"id":"x","response":{}}`,
	`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA","userHandle":"AAAA"}}`,
	`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0","attestationObject":"o2NmbXRkbm9uZQ"}}`,
	"{\"id\":\"\xff\xfe\"}", `{"id":1e999}`, `{"response":{"clientDataJSON":"` + string(make([]byte, 300)) + `"}}`,
}

// FuzzFinishLogin feeds arbitrary assertion bodies to FinishLogin: it must
// never panic, never succeed for an unknown ceremony, and always return a
// typed *Error that idp can map to a 4xx.
func FuzzFinishLogin(f *testing.F) {
	svc := fuzzService(f)
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := svc.FinishLogin(context.Background(), "no-such-ceremony", "", body)
		var pe *Error
		if res != nil || !errors.As(err, &pe) || errors.Is(err, ErrInternal) {
			t.Fatalf("FinishLogin(%q) = %v, %v", body, res, err)
		}
	})
}

// FuzzFinishRegistration is the same for registration bodies.
func FuzzFinishRegistration(f *testing.F) {
	svc := fuzzService(f)
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "name")
	}
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		cred, err := svc.FinishRegistration(context.Background(), "no-such-ceremony", body, name)
		var pe *Error
		if cred != nil || !errors.As(err, &pe) || errors.Is(err, ErrInternal) {
			t.Fatalf("FinishRegistration(%q) = %v, %v", body, cred, err)
		}
	})
}
