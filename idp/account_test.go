package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

// accountSignIn signs in on the account page (no auth request).
func (b *browser) accountSignIn() {
	b.t.Helper()
	body, csrf := b.page("/account", http.StatusOK)
	if !strings.Contains(body, `data-begin="/account/login/begin"`) {
		b.t.Fatalf("account page without a session shows no sign-in:\n%s", body)
	}
	var begin beginResp
	if st := b.postJSON("/account/login/begin", csrf, map[string]string{}, &begin); st != http.StatusOK {
		b.t.Fatalf("account login begin: %d %s", st, begin.Error)
	}
	assertion, err := b.auth.Get(begin.Options)
	if err != nil {
		b.t.Fatal(err)
	}
	var fin struct{ Redirect, Error string }
	if st := b.postJSON("/account/login/finish", csrf, map[string]any{"ceremonyID": begin.CeremonyID, "credential": json.RawMessage(assertion)}, &fin); st != http.StatusOK || fin.Redirect != "/account" {
		b.t.Fatalf("account login finish: %d %+v", st, fin)
	}
}

func TestAccountPage(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	u, link := app.newUser("frank", false)
	b := app.newBrowser()
	b.register(link)
	b.accountSignIn()
	body, csrf := b.page("/account", http.StatusOK)
	for _, want := range []string{"Signed in as", "frank", "Test key", "this browser", `data-rp-id="localhost"`} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	creds, _ := app.db.CredentialsByUser(ctx, u.ID)
	first := creds[0]

	// The only passkey cannot be deleted.
	resp := b.postForm("/account/passkeys/"+first.ID+"/delete", csrf, url.Values{})
	if body := readBody(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "only passkey") {
		t.Fatalf("deleting the last passkey = %d", resp.StatusCode)
	}

	// Adding a passkey needs a recent passkey ceremony: after 6 minutes the
	// session alone is refused, and signing in again (same session) is enough.
	app.clock.Advance(6 * time.Minute)
	var stale beginResp
	if st := b.postJSON("/account/passkeys/begin", csrf, map[string]any{}, &stale); st != http.StatusUnauthorized || stale.Error == "" {
		t.Fatalf("add begin on a stale sign-in: %d %q", st, stale.Error)
	}
	var confirm beginResp
	if st := b.postJSON("/account/login/begin", csrf, map[string]string{}, &confirm); st != http.StatusOK {
		t.Fatalf("confirm begin: %d %s", st, confirm.Error)
	}
	confirmation, err := b.auth.Get(confirm.Options)
	if err != nil {
		t.Fatal(err)
	}
	var confirmed struct{ Error string }
	if st := b.postJSON("/account/login/finish", csrf, map[string]any{"ceremonyID": confirm.CeremonyID, "credential": json.RawMessage(confirmation)}, &confirmed); st != http.StatusOK {
		t.Fatalf("confirm finish: %d %s", st, confirmed.Error)
	}

	// Add a second passkey from the account page (no setup link).
	oldAuth := b.auth
	b.auth = passkeytest.New("localhost", app.issuer)
	var begin beginResp
	if st := b.postJSON("/account/passkeys/begin", csrf, map[string]any{}, &begin); st != http.StatusOK {
		t.Fatalf("add begin: %d %s", st, begin.Error)
	}
	cred, err := b.auth.Create(begin.Options)
	if err != nil {
		t.Fatal(err)
	}
	var fin struct{ Redirect, Error string }
	if st := b.postJSON("/account/passkeys/finish", csrf, map[string]any{"ceremonyID": begin.CeremonyID, "name": "Phone", "credential": json.RawMessage(cred)}, &fin); st != http.StatusOK {
		t.Fatalf("add finish: %d %+v", st, fin)
	}
	creds, _ = app.db.CredentialsByUser(ctx, u.ID)
	if len(creds) != 2 || creds[1].Name != "Phone" {
		t.Fatalf("credentials after add: %+v", creds)
	}

	// Rename, with a form error first.
	resp = b.postForm("/account/passkeys/"+creds[1].ID+"/rename", csrf, url.Values{"name": {""}})
	if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty rename = %d", resp.StatusCode)
	}
	resp = b.postForm("/account/passkeys/"+creds[1].ID+"/rename", csrf, url.Values{"name": {"Pixel"}})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename = %d", resp.StatusCode)
	}

	// Delete the second one: the page then signals the removal.
	resp = b.postForm("/account/passkeys/"+creds[1].ID+"/delete", csrf, url.Values{})
	readBody(t, resp)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "removed="+b64url(creds[1].CredentialID)) {
		t.Fatalf("delete = %d %q", resp.StatusCode, loc)
	}
	body, _ = b.page(loc, http.StatusOK)
	if !strings.Contains(body, `data-removed="`+b64url(creds[1].CredentialID)+`"`) || !strings.Contains(body, `data-accepted="`+b64url(first.CredentialID)+`"`) {
		t.Errorf("signals data missing after deletion")
	}
	b.auth = oldAuth

	// Another user may not touch frank's passkey.
	_, glink := app.newUser("gina", false)
	gb := app.newBrowser()
	gb.register(glink)
	gb.accountSignIn()
	_, gcsrf := gb.page("/account", http.StatusOK)
	resp = gb.postForm("/account/passkeys/"+first.ID+"/rename", gcsrf, url.Values{"name": {"pwned"}})
	if readBody(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("renaming another user's passkey = %d, want 404", resp.StatusCode)
	}

	// Sign out everywhere ends the session.
	resp = b.postForm("/account/sessions/all/end", csrf, url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end all = %d", resp.StatusCode)
	}
	if ss, _ := app.db.SessionsByUser(ctx, u.ID); len(ss) != 0 {
		t.Fatalf("sessions after sign-out everywhere: %d", len(ss))
	}
	body, _ = b.page("/account", http.StatusOK)
	if !strings.Contains(body, "/account/login/begin") {
		t.Errorf("account page after sign-out does not offer sign-in")
	}
}
