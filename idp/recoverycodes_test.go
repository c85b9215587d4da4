package idp

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/models"
)

var recoveryCodeRe = regexp.MustCompile(`<code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code>`)

// generateCodes posts "Generate ten recovery codes" on the account page
// of a signed-in browser and returns the codes shown.
func generateCodes(t *testing.T, b *browser) []string {
	t.Helper()
	body, csrf := b.page("/account", http.StatusOK)
	if !strings.Contains(body, `id="codes-generate"`) {
		t.Fatalf("the account page offers no recovery codes:\n%s", body)
	}
	resp := b.postForm("/account/recovery-codes", csrf, url.Values{})
	page := readBody(t, resp)
	var codes []string
	for _, m := range recoveryCodeRe.FindAllStringSubmatch(page, -1) {
		codes = append(codes, m[1])
	}
	if resp.StatusCode != http.StatusOK || len(codes) != 10 {
		t.Fatalf("generate = %d with %d codes", resp.StatusCode, len(codes))
	}
	return codes
}

// useCode posts the recovery-code form.
func useCode(t *testing.T, b *browser, who, code string) *http.Response {
	t.Helper()
	_, csrf := b.page("/recover", http.StatusOK)
	return b.postForm("/recover/code", csrf, url.Values{"who": {who}, "code": {code}})
}

func codeRefused(t *testing.T, b *browser, who, code string) string {
	t.Helper()
	resp := useCode(t, b, who, code)
	body := csrfValues.ReplaceAllString(readBody(t, resp), "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="code-error"`) {
		t.Fatalf("code %q for %q = %d, want 400 with an error", code, who, resp.StatusCode)
	}
	return strings.Replace(body, `value="`+who+`"`, `value=""`, 1)
}

// TestRecoveryCodes: ten codes shown once and stored as MACs; a code and
// a username or address lead to a new passkey (the old one stays) and a
// notice to the owner; a used, replaced, wrong or malformed code and an
// unknown account get the same refusal; the per-account limit holds;
// a group with recovery off refuses codes.
func TestRecoveryCodes(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp), func(c *Config) {
		c.RateLimits.Limits = map[string]RateLimit{RateLimitRecovery: {Requests: 20, Window: time.Hour}}
	})
	runMailJobs(t, app.srv)
	ctx := context.Background()
	u, setup := app.newUser("ruth", false)
	b := app.newBrowser()
	b.register(setup)
	b.accountSignIn()

	old := generateCodes(t, b)
	codes := generateCodes(t, b) // replaces the first ten
	// Only with a recent passkey ceremony: a stale session is refused and
	// changes nothing.
	app.clock.Advance(6 * time.Minute)
	_, csrf := b.page("/account", http.StatusOK)
	resp := b.postForm("/account/recovery-codes", csrf, url.Values{})
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Confirm it") {
		t.Fatalf("generate on a stale sign-in = %d", resp.StatusCode)
	}
	if body, _ := b.page("/account", http.StatusOK); !strings.Contains(body, "Unused recovery codes: 10.") {
		t.Fatal("the account page does not count the codes")
	}
	evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{UserID: u.ID, Type: EventRecoveryCodesCreated})
	if len(evs) != 2 {
		t.Fatalf("%d recovery_codes_created events, want 2", len(evs))
	}

	lost := app.newBrowser()
	unknown := codeRefused(t, lost, "nobody", codes[0])
	if wrong := codeRefused(t, lost, "ruth", old[0]); wrong != unknown {
		t.Fatalf("a replaced code and an unknown account answer differently:\n%s\n---\n%s", wrong, unknown)
	}
	resp = useCode(t, lost, "ruth", strings.ToUpper(codes[0])) // case and dashes do not matter
	_ = readBody(t, resp)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/setup/") {
		t.Fatalf("a valid code = %d → %q", resp.StatusCode, loc)
	}
	lost.register(app.issuer + loc)
	if creds, _ := app.db.CredentialsByUser(ctx, u.ID); len(creds) != 2 {
		t.Fatalf("passkeys after recovery = %d, want 2 (the old one stays)", len(creds))
	}
	noticeTo(t, mp, "ruth@example.com", "A recovery code of your Latchkey account was used", "Unused codes left: 9", "127.0.0.1")
	codeRefused(t, lost, "ruth", codes[0]) // spent
	// By address, without dashes.
	resp = useCode(t, lost, "RUTH@example.com", strings.ReplaceAll(codes[1], "-", ""))
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code by address = %d", resp.StatusCode)
	}
	// Stored as MACs under the sealed key: neither the code nor its
	// SHA-256 matches a stored one.
	for _, guess := range [][]byte{[]byte(normalizeRecoveryCode(codes[5])), models.HashToken(normalizeRecoveryCode(codes[5]))} {
		if err := app.db.SpendRecoveryCode(ctx, u.ID, guess); err == nil {
			t.Fatal("a recovery code is stored as itself or its plain hash")
		}
	}
	codeRefused(t, lost, "ruth", "not a code")
	codeRefused(t, lost, "", codes[2])
	codeRefused(t, lost, strings.Repeat("r", 300), codes[2])
	// Five tries per account an hour (three above counted, and the two
	// malformed ones did not reach the account): a valid code is refused
	// now and stays unspent.
	codeRefused(t, lost, "ruth", "aaaa-aaaa-aaaa")
	codeRefused(t, lost, "ruth", codes[2])
	if left, _ := app.db.UnusedRecoveryCodes(ctx, u.ID); left != 8 {
		t.Fatalf("%d codes left, want 8", left)
	}

	// A group with recovery off: no codes offered, none accepted.
	g, err := app.db.CreateGroup(ctx, "admins")
	if err != nil {
		t.Fatal(err)
	}
	v, setupV := app.newUser("vera", false)
	vb := app.newBrowser()
	vb.register(setupV)
	vb.accountSignIn()
	vcodes := generateCodes(t, vb)
	if err := app.db.AddGroupMember(ctx, g.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if err := app.db.SetGroupRecovery(ctx, g.ID, true); err != nil {
		t.Fatal(err)
	}
	body, csrf := vb.page("/account", http.StatusOK)
	if strings.Contains(body, `id="codes-generate"`) {
		t.Fatal("recovery codes offered to a member of a group with recovery off")
	}
	resp = vb.postForm("/account/recovery-codes", csrf, url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("generate with recovery off = %d", resp.StatusCode)
	}
	codeRefused(t, app.newBrowser(), "vera", vcodes[0])
	if left, _ := app.db.UnusedRecoveryCodes(ctx, v.ID); left != 10 {
		t.Fatalf("a refused code was spent: %d left", left)
	}
}

// TestRecoveryCodesOff: --recovery=off turns codes off too.
func TestRecoveryCodesOff(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.Recovery = RecoveryOff })
	_, setup := app.newUser("otto", false)
	b := app.newBrowser()
	b.register(setup)
	b.accountSignIn()
	if body, _ := b.page("/account", http.StatusOK); strings.Contains(body, `id="codes-generate"`) {
		t.Fatal("codes offered with recovery off")
	}
	body, _ := b.page("/recover", http.StatusOK)
	if strings.Contains(body, `id="recover-code-form"`) || !strings.Contains(body, `id="recovery-off"`) {
		t.Fatalf("recover page with recovery off:\n%s", body)
	}
	if resp := useCode(t, b, "otto", "aaaa-aaaa-aaaa"); readBody(t, resp) != "" && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("code with recovery off = %d", resp.StatusCode)
	}
}

// TestRecoveryCodeTakesAsLongForUnknownAccounts: a wrong code for an
// account and any code for no account are refused alike, and no sooner
// than the email form answers, so the timing names no account.
func TestRecoveryCodeTakesAsLongForUnknownAccounts(t *testing.T) {
	app := newTestApp(t, func(c *Config) {
		c.RateLimits.Limits = map[string]RateLimit{RateLimitRecovery: {Requests: 100, Window: time.Hour}}
	})
	app.newUser("rita", false)
	b := app.newBrowser()
	for _, who := range []string{"rita", "nobody-here"} {
		start := time.Now()
		codeRefused(t, b, who, "7k2m-9qfx-3d8h") // well formed, not theirs
		if d := time.Since(start); d < recoveryAnswerTime {
			t.Errorf("a code for %q was refused after %v, before %v", who, d, recoveryAnswerTime)
		}
	}
}
