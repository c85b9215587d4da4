package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// tamperAssertion rewrites one field of response in an assertion body.
func tamperAssertion(t *testing.T, body []byte, field string, value []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["response"].(map[string]any)[field] = base64.RawURLEncoding.EncodeToString(value)
	out, _ := json.Marshal(m)
	return out
}

// lastRefusal returns the reason of the newest refused ceremony event.
func lastRefusal(t *testing.T, app *testApp) (string, int) {
	t.Helper()
	evs, err := app.db.AuditEvents(context.Background(), models.AuditFilter{Type: models.EventSignInFailed, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return "", 0
	}
	reason, _ := evs[0].Detail["reason"].(string)
	return reason, len(evs)
}

// TestChallengeRefusalsAreAudited: every forged, stale or weak ceremony
// answer is refused at once and leaves an audit event with its reason.
func TestChallengeRefusalsAreAudited(t *testing.T) {
	app, b, _, r, _ := enrolled(t)
	fresh := func() (string, string, beginResp) {
		return b.loginStart(r, oauth2.SetAuthURLParam("prompt", "login"))
	}
	cases := []struct {
		name   string
		answer func(arID, csrf string, begin beginResp) (int, string)
		reason string
	}{
		{"unsigned (signature stripped)", func(arID, csrf string, begin beginResp) (int, string) {
			a, _ := b.auth.Get(begin.Options)
			return b.loginFinish(arID, csrf, begin.CeremonyID, tamperAssertion(t, a, "signature", nil))
		}, "bad_signature"},
		{"forged signature", func(arID, csrf string, begin beginResp) (int, string) {
			a, _ := b.auth.Get(begin.Options)
			sig := make([]byte, 70)
			sig[0], sig[1] = 0x30, 68
			return b.loginFinish(arID, csrf, begin.CeremonyID, tamperAssertion(t, a, "signature", sig))
		}, "bad_signature"},
		{"another origin", func(arID, csrf string, begin beginResp) (int, string) {
			b.auth.Origin = "https://evil.example"
			defer func() { b.auth.Origin = app.issuer }()
			a, _ := b.auth.Get(begin.Options)
			return b.loginFinish(arID, csrf, begin.CeremonyID, a)
		}, "wrong_origin"},
		{"another RP ID", func(arID, csrf string, begin beginResp) (int, string) {
			b.auth.RPID = "evil.example"
			defer func() { b.auth.RPID = "localhost" }()
			a, _ := b.auth.Get(begin.Options)
			return b.loginFinish(arID, csrf, begin.CeremonyID, a)
		}, "wrong_rp_id"},
		{"user verification missing", func(arID, csrf string, begin beginResp) (int, string) {
			b.auth.UV = false
			defer func() { b.auth.UV = true }()
			a, _ := b.auth.Get(begin.Options)
			return b.loginFinish(arID, csrf, begin.CeremonyID, a)
		}, "uv_missing"},
		{"user presence missing", func(arID, csrf string, begin beginResp) (int, string) {
			b.auth.UP = false
			defer func() { b.auth.UP = true }()
			a, _ := b.auth.Get(begin.Options)
			return b.loginFinish(arID, csrf, begin.CeremonyID, a)
		}, "up_missing"},
		{"answer to another challenge", func(arID, csrf string, begin beginResp) (int, string) {
			_, _, other := fresh()
			a, _ := b.auth.Get(other.Options)
			return b.loginFinish(arID, csrf, begin.CeremonyID, a)
		}, "challenge_mismatch"},
		{"ceremony of another sign-in request", func(_, csrf string, begin beginResp) (int, string) {
			arID2, _, _ := fresh()
			a, _ := b.auth.Get(begin.Options)
			return b.loginFinish(arID2, csrf, begin.CeremonyID, a)
		}, "ceremony_mismatch"},
		{"unknown ceremony", func(arID, csrf string, begin beginResp) (int, string) {
			a, _ := b.auth.Get(begin.Options)
			return b.loginFinish(arID, csrf, "no-such-ceremony", a)
		}, "replayed_challenge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arID, csrf, begin := fresh()
			_, n := lastRefusal(t, app)
			st, msg := tc.answer(arID, csrf, begin)
			if st < 400 || st >= 500 || msg == "" {
				t.Fatalf("status %d %q, want a clear refusal", st, msg)
			}
			reason, m := lastRefusal(t, app)
			if m != n+1 || reason != tc.reason {
				t.Fatalf("audit: %d new events, reason %q, want one with %q", m-n, reason, tc.reason)
			}
			// Refused at once and for good: the ceremony is gone, a correct
			// answer to it afterwards is refused too.
			if tc.reason != "replayed_challenge" && tc.reason != "ceremony_mismatch" {
				a, _ := b.auth.Get(begin.Options)
				if st, _ := b.loginFinish(arID, csrf, begin.CeremonyID, a); st == http.StatusOK {
					t.Fatal("the ceremony could be answered again after a refusal")
				}
			}
		})
	}
}

// TestRegistrationRefusalsAreAudited covers the setup-link ceremony.
func TestRegistrationRefusalsAreAudited(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("pia", false)
	path := strings.TrimPrefix(setup, app.issuer)
	b := app.newBrowser()
	_, csrf := b.page(path, http.StatusOK)
	cases := []struct {
		name   string
		tamper func()
		reset  func()
		reason string
	}{
		{"user verification missing", func() { b.auth.UV = false }, func() { b.auth.UV = true }, "uv_missing"},
		{"user presence missing", func() { b.auth.UP = false }, func() { b.auth.UP = true }, "up_missing"},
		{"another origin", func() { b.auth.Origin = "https://evil.example" }, func() { b.auth.Origin = app.issuer }, "wrong_origin"},
		{"another RP ID", func() { b.auth.RPID = "evil.example" }, func() { b.auth.RPID = "localhost" }, "wrong_rp_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var begin beginResp
			if st := b.postJSON(path+"/begin", csrf, map[string]any{}, &begin); st != http.StatusOK {
				t.Fatalf("begin: %d", st)
			}
			tc.tamper()
			cred, err := b.auth.Create(begin.Options)
			tc.reset()
			if err != nil {
				t.Fatal(err)
			}
			_, n := lastRefusal(t, app)
			var out map[string]string
			st := b.postJSON(path+"/finish", csrf, map[string]any{"ceremonyID": begin.CeremonyID, "credential": json.RawMessage(cred)}, &out)
			if st < 400 || st >= 500 || out["error"] == "" {
				t.Fatalf("status %d %v", st, out)
			}
			reason, m := lastRefusal(t, app)
			if m != n+1 || reason != tc.reason {
				t.Fatalf("audit: %d new, reason %q, want %q", m-n, reason, tc.reason)
			}
		})
	}
	creds, _ := app.db.CredentialsByUser(context.Background(), mustUser(t, app, "pia").ID)
	if len(creds) != 0 {
		t.Fatalf("%d passkeys stored from refused ceremonies", len(creds))
	}
	b.register(setup) // the link itself is still good
}

func mustUser(t *testing.T, app *testApp, name string) *models.User {
	t.Helper()
	u, err := app.db.UserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
