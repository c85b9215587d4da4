package idp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// The owner is told by email of a sign-in with a passkey from a provider
// (AAGUID) never used on the account before (issue 22): once per provider,
// not for a second passkey of a provider already used, and for a provider
// that does not name itself (all-zero AAGUID) as one more provider.
func TestNewProviderSignInNotice(t *testing.T) {
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	ctx := context.Background()
	const subject = "New sign-in to your Latchkey account"
	onePassword := uuid.MustParse("bada5566-a7aa-401f-bd96-45619a55120d")
	name := passkeys.ProviderName(onePassword[:])
	if name == "" {
		t.Fatal("the AAGUID list does not name 1Password")
	}
	nia, link := app.newUser("nia", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	signIn := func(b *browser) {
		t.Helper()
		authURL, f := r.authURL()
		r.exchange(b.signIn(authURL), f)
	}
	count := func() int {
		t.Helper()
		msgs, err := mp.To("nia@example.com")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range msgs {
			if m.Subject == subject {
				n++
			}
		}
		return n
	}
	settled := func(want int) {
		t.Helper()
		time.Sleep(2500 * time.Millisecond) // two rounds of the mail job
		if n := count(); n != want {
			t.Fatalf("%d new-provider notices, want %d", n, want)
		}
	}

	laptop := app.newBrowser()
	laptop.auth.AAGUID = onePassword
	laptop.register(link)
	signIn(laptop)
	n := noticeTo(t, mp, "nia@example.com", subject, `"Test key"`)
	if !strings.Contains(strings.Join(strings.Fields(n.Text), " "), name) || !strings.Contains(n.HTML, name) {
		t.Fatalf("the notice does not name %s:\n%s", name, n.Text)
	}
	if n.HTML == "" || n.To[0].Address != "nia@example.com" {
		t.Fatalf("notice: %+v", n)
	}
	signIn(laptop) // the same provider again: no notice
	settled(1)

	phone := app.newBrowser() // a second passkey in the same provider
	phone.auth.AAGUID = onePassword
	link2, err := IssueSetupLink(ctx, app.db, app.issuer, nia.ID, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	phone.register(link2)
	signIn(phone)
	settled(1)

	key := app.newBrowser() // all-zero AAGUID: a provider that does not name itself
	link3, err := IssueSetupLink(ctx, app.db, app.issuer, nia.ID, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	key.register(link3)
	signIn(key)
	settled(2)
	msgs, err := mp.To("nia@example.com")
	if err != nil {
		t.Fatal(err)
	}
	unnamed := false
	for _, m := range msgs { // the text part is wrapped at 72 columns
		unnamed = unnamed || m.Subject == subject && strings.Contains(strings.Join(strings.Fields(m.Text), " "), "a passkey provider that does not name itself")
	}
	if !unnamed {
		t.Fatal("no notice names the provider that does not name itself")
	}
}
