package idp

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/models"
)

var emailLinkRe = regexp.MustCompile(`http://localhost:\d+/email/verify/[A-Za-z0-9_-]+`)

// emailChangeLink waits for the verification message to addr and returns
// its link, checking that both parts carry it.
func emailChangeLink(t *testing.T, mp *mailtest.Server, addr string, n int) string {
	t.Helper()
	msgs := mp.Wait(t, addr, n, 10*time.Second)
	for _, m := range msgs {
		if link := emailLinkRe.FindString(m.Text); link != "" {
			if !strings.Contains(m.HTML, `href="`+link+`"`) {
				t.Fatalf("the HTML part lacks the link %s:\n%s", link, m.HTML)
			}
			return link
		}
	}
	t.Fatalf("no email change link in %d messages to %s", len(msgs), addr)
	return ""
}

// TestProfileEmailChange: the account page changes the display name; a new
// email address is sent a one-time link and the old one a notice, and the
// address changes only when the link is followed (then verified, and the
// old address told again); a used, expired, replaced or unknown link and
// every bad input are refused with a clear message and change nothing.
func TestProfileEmailChange(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	ctx := context.Background()
	u, link := app.newUser("greta", false)
	b := app.newBrowser()
	b.register(link)
	b.accountSignIn()
	body, csrf := b.page("/account", http.StatusOK)
	for _, want := range []string{`id="name-form"`, `id="email-form"`, "greta@example.com", `id="sign-ins"`, "to this account page", "passkey Test key", "127.0.0.1"} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	queued := countRows(t, app, "outbox") // the passkey notices
	user := func() *models.User {
		t.Helper()
		x, err := app.db.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	post := func(path string, form url.Values, wantStatus int, wantText string) {
		t.Helper()
		resp := b.postForm(path, csrf, form)
		got := readBody(t, resp)
		if resp.StatusCode != wantStatus || !strings.Contains(got, wantText) {
			t.Fatalf("POST %s %v = %d, want %d with %q:\n%s", path, form, resp.StatusCode, wantStatus, wantText, got)
		}
	}

	// Bad names: a line break (header injection in every message's To),
	// a control character, an oversize name. Nothing changes.
	for _, bad := range []string{"Greta\r\nBcc: evil@example.net", "Gre\x07ta", strings.Repeat("x", 129), strings.Repeat("é", 101)} {
		post("/account/profile/name", url.Values{"display_name": {bad}}, http.StatusBadRequest, "without line breaks or control characters.")
	}
	if got := user().DisplayName; got != "Greta" {
		t.Fatalf("a refused name changed the name to %q", got)
	}
	post("/account/profile/name", url.Values{"display_name": {"  Greta Garbo "}}, http.StatusSeeOther, "")
	if got := user().DisplayName; got != "Greta Garbo" {
		t.Fatalf("name = %q", got)
	}
	if body, _ := b.page("/account?done=name-saved", http.StatusOK); !strings.Contains(body, "Your name was saved.") || !strings.Contains(body, `value="Greta Garbo"`) {
		t.Error("the saved name is not shown")
	}

	// Bad addresses: malformed, with a header injection, oversize, the
	// current one. Nothing is queued, nothing recorded.
	for _, bad := range []string{"", "not-an-address", "a@b.example\r\nBcc: evil@example.net", "Greta <g@example.org>",
		strings.Repeat("a", 250) + "@example.org", "a b@example.org"} {
		post("/account/profile/email", url.Values{"email": {bad}}, http.StatusBadRequest, "not an email address")
	}
	post("/account/profile/email", url.Values{"email": {"greta@example.com"}}, http.StatusBadRequest, "already your address")
	if n := countRows(t, app, "email_changes"); n != 0 {
		t.Fatalf("%d email changes recorded by refused requests", n)
	}
	if n := countRows(t, app, "outbox"); n != queued {
		t.Fatalf("%d messages queued by refused requests", n-queued)
	}

	// A good request: the link goes to the new address, a notice to the
	// old one; the address stays until the link is followed.
	post("/account/profile/email", url.Values{"email": {"greta.new@example.org"}}, http.StatusSeeOther, "")
	if body, _ := b.page("/account?done=email-sent", http.StatusOK); !strings.Contains(body, "We sent a link to the new address") ||
		!strings.Contains(body, "A link was sent to greta.new@example.org") {
		t.Error("no notice that the link was sent, or of the pending change")
	}
	verify := emailChangeLink(t, mp, "greta.new@example.org", 1)
	noticeTo(t, mp, "greta@example.com", "A change of your Latchkey email address was requested", "greta.new@example.org")
	if x := user(); x.Email != "greta@example.com" {
		t.Fatalf("the address changed before the link was followed: %q", x.Email)
	}
	// Only the hash of the link's token is stored.
	token := verify[strings.LastIndex(verify, "/")+1:]
	var stored []byte
	if err := app.db.Gorm().Raw("SELECT token_hash FROM email_changes").Row().Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), token) || string(stored) != string(models.HashToken(token)) {
		t.Error("the email change token is not stored as its SHA-256")
	}

	// Opening the link (GET, as a mail scanner would) changes nothing.
	other := app.newBrowser()
	page, vcsrf := other.page(verify, http.StatusOK)
	if !strings.Contains(page, "greta.new@example.org") || !strings.Contains(page, `id="email-confirm"`) {
		t.Fatalf("the link's page does not ask to confirm:\n%s", page)
	}
	if x := user(); x.Email != "greta@example.com" {
		t.Fatal("GET of the link changed the address")
	}
	resp := other.postForm(verify, vcsrf, url.Values{})
	if got := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(got, "is now greta.new@example.org") {
		t.Fatalf("confirm = %d:\n%s", resp.StatusCode, got)
	}
	if x := user(); x.Email != "greta.new@example.org" || !x.EmailVerified {
		t.Fatalf("after the link: %q verified=%v", x.Email, x.EmailVerified)
	}
	noticeTo(t, mp, "greta@example.com", "Your Latchkey email address was changed", "greta.new@example.org")
	if body, _ := b.page("/account", http.StatusOK); strings.Contains(body, `id="email-pending"`) || !strings.Contains(body, "greta.new@example.org") {
		t.Error("after the change the page still shows it pending, or not the new address")
	}

	// Reused: refused, clearly.
	resp = other.postForm(verify, vcsrf, url.Values{})
	if got := readBody(t, resp); resp.StatusCode != http.StatusGone || !strings.Contains(got, "already used") {
		t.Fatalf("reused link = %d:\n%s", resp.StatusCode, got)
	}
	if got, _ := other.page(verify, http.StatusGone); !strings.Contains(got, "already used") {
		t.Error("the used link's page does not say so")
	}
	if got := other.pageLang(verify, "de"); !strings.Contains(got, "Dieser Link wurde bereits verwendet") {
		t.Error("the used link's page is not translated")
	}
	if got := other.pageLang(verify, "fr"); !strings.Contains(got, "Ce lien a déjà été utilisé") {
		t.Error("the used link's page is not translated to French")
	}
	// Unknown.
	if got, _ := other.page("/email/verify/"+strings.Repeat("A", 43), http.StatusNotFound); !strings.Contains(got, "not valid") {
		t.Error("an unknown link is not refused clearly")
	}

	// A replaced link and an expired one change nothing.
	_, csrf = b.page("/account", http.StatusOK)
	post("/account/profile/email", url.Values{"email": {"first@example.org"}}, http.StatusSeeOther, "")
	first := emailChangeLink(t, mp, "first@example.org", 1)
	post("/account/profile/email", url.Values{"email": {"second@example.org"}}, http.StatusSeeOther, "")
	second := emailChangeLink(t, mp, "second@example.org", 1)
	if got, _ := other.page(first, http.StatusGone); !strings.Contains(got, "expired or a newer change replaced it") {
		t.Error("a replaced link still works")
	}
	app.clock.Advance(2 * time.Hour)
	resp = other.postForm(second, vcsrf, url.Values{})
	if got := readBody(t, resp); resp.StatusCode != http.StatusGone || !strings.Contains(got, "expired") {
		t.Fatalf("expired link = %d:\n%s", resp.StatusCode, got)
	}
	if x := user(); x.Email != "greta.new@example.org" {
		t.Fatalf("an expired link changed the address to %q", x.Email)
	}

	// The session is now old: an email change needs a fresh sign-in.
	_, csrf = b.page("/account", http.StatusOK)
	post("/account/profile/email", url.Values{"email": {"third@example.org"}}, http.StatusUnauthorized, "sign in again")

	// German page, German error.
	if body := b.pageLang("/account", "de"); !strings.Contains(body, "Letzte Anmeldungen") {
		t.Error("the account page is not translated")
	}
}

// pageLang GETs u with Accept-Language lang and returns the body.
func (b *browser) pageLang(u, lang string) string {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.abs(u), nil)
	req.Header.Set("Accept-Language", lang)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return readBody(b.t, resp)
}

// TestProfileEmailChangeWithoutMail: a server that sends no mail offers no
// email change and refuses one, queuing nothing.
func TestProfileEmailChangeWithoutMail(t *testing.T) {
	app := newTestApp(t)
	_, link := app.newUser("hans", false)
	b := app.newBrowser()
	b.register(link)
	b.accountSignIn()
	body, csrf := b.page("/account", http.StatusOK)
	if strings.Contains(body, `id="email-form"`) {
		t.Error("the email form is offered without mail")
	}
	resp := b.postForm("/account/profile/email", csrf, url.Values{"email": {"hans2@example.org"}})
	if got := readBody(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(got, "sends no email") {
		t.Fatalf("email change without mail = %d", resp.StatusCode)
	}
	if n := countRows(t, app, "email_changes"); n != 0 {
		t.Fatal("an email change was recorded")
	}
}

// TestProfileOnPostgres runs the email change again on Postgres.
func TestProfileOnPostgres(t *testing.T) {
	dbtest.RerunOnPostgres(t, "^(TestProfileEmailChange|TestLauncher)$")
}

// TestAccountPasskeyRenameRefusals: renaming a passkey refuses an empty,
// oversize or control-character name with a translated message, and
// another account's passkey as not found; nothing changes.
func TestAccountPasskeyRenameRefusals(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	u, link := app.newUser("otto", false)
	v, vlink := app.newUser("vera", false)
	app.newBrowser().register(vlink)
	b := app.newBrowser()
	b.register(link)
	b.accountSignIn()
	_, csrf := b.page("/account", http.StatusOK)
	mine, _ := app.db.CredentialsByUser(ctx, u.ID)
	theirs, _ := app.db.CredentialsByUser(ctx, v.ID)
	for _, bad := range []string{"", "   ", strings.Repeat("k", 65), "Key\r\nX", "Key\x00"} {
		resp := b.postForm("/account/passkeys/"+mine[0].ID+"/rename", csrf, url.Values{"name": {bad}})
		if got := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(got, "1 to 64 characters, without line breaks") {
			t.Errorf("rename to %q = %d", bad, resp.StatusCode)
		}
	}
	resp := b.postForm("/account/passkeys/"+theirs[0].ID+"/rename", csrf, url.Values{"name": {"Mine now"}})
	if readBody(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Errorf("renaming another account's passkey = %d", resp.StatusCode)
	}
	after, _ := app.db.CredentialsByUser(ctx, u.ID)
	theirsAfter, _ := app.db.CredentialsByUser(ctx, v.ID)
	if after[0].Name != mine[0].Name || theirsAfter[0].Name != theirs[0].Name {
		t.Fatal("a refused rename changed a name")
	}
	req, _ := http.NewRequest(http.MethodPost, b.abs("/account/passkeys/"+mine[0].ID+"/rename"),
		strings.NewReader(url.Values{"name": {""}, "_csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "de")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, resp); !strings.Contains(got, "Ein Passkey-Name muss 1 bis 64 Zeichen lang sein") {
		t.Error("the rename error is not translated")
	}
}
