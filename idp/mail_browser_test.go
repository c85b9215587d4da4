package idp

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-idp/latchkey/internal/mailtest"
	"github.com/latchkey-idp/latchkey/models"
)

// TestBrowserInvitationToSignIn: an admin presses "Email a setup link" in
// the console; the message arrives at a real SMTP server (Mailpit); the
// user opens its link in Chromium, creates a passkey with the virtual
// authenticator (and is told by email that a passkey was added) and
// signs in to the account page with it.
func TestBrowserInvitationToSignIn(t *testing.T) {
	exe := findChromium(t)
	mp := mailtest.Start(t)
	app := newAdminApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	shots := artifactDir(t)
	_, adminLink := app.newUser("root", true)
	invitee := &models.User{Username: "iris", Email: "iris@example.com", DisplayName: "Iris Invited"}
	if err := app.db.CreateUser(context.Background(), invitee); err != nil {
		t.Fatal(err)
	}

	admin := newChrome(t, exe, true)
	admin.setUpPasskey(adminLink, "Admin laptop")
	admin.do("open the console", chromedp.Navigate(app.adminURL+"/admin"))
	admin.passkeySignInUntil(app.issuer, func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.adminURL)
		return ok && u.Path == "/admin" && strings.Contains(s.Text, "Sign-ins per day")
	})
	admin.do("invite from the user page",
		chromedp.Navigate(app.adminURL+"/admin/users/"+invitee.ID),
		chromedp.WaitVisible(chromedp.ID("send-invitation")),
		chromedp.Click(chromedp.ID("send-invitation")),
		chromedp.WaitVisible(chromedp.ID("user-mail")),
	)
	admin.expectText("body", "An invitation with a new setup link was queued")
	admin.screenshot(shots, "invite-01-queued")

	link := mailedLink(t, mp, "iris@example.com", 1)
	msgs, err := mp.To("iris@example.com")
	if err != nil || msgs[0].To[0].Name != "Iris Invited" || !strings.Contains(msgs[0].Text, "Hello Iris Invited") {
		t.Fatalf("invitation = %+v, %v", msgs, err)
	}

	user := newChrome(t, exe, true)
	if _, err := chromedp.Call(user.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noAutofillJS}); err != nil {
		t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	user.setUpPasskey(link, "Iris laptop")
	user.screenshot(shots, "invite-02-passkey-created")
	if n := noticeTo(t, mp, "iris@example.com", "A passkey was added to your Latchkey account"); !strings.Contains(n.Text, `"Iris laptop"`) {
		t.Fatalf("added notice:\n%s", n.Text)
	}
	user.open(app.issuer + "/account")
	user.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	user.signInOn(app.issuer, "/account", func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.issuer)
		return ok && u.Path == "/account" && strings.Contains(s.Text, "Signed in as")
	})
	user.expectText("#account-user", "iris")
	user.expectText("#passkeys", "Iris laptop")
	user.screenshot(shots, "invite-03-signed-in")

	// The emailed link worked once.
	user.open(link)
	user.expectText("body", "not valid or has already been used")
}

// TestBrowserRecoveryKeepsTheOldPasskey: a user with a passkey on one
// device asks for recovery on another ("Lost your passkey?"), reads the
// link from Mailpit, creates a passkey there and signs in with it; the
// first device's passkey still signs in too, until the user removes it
// from the new device: then the owner is told by email and the old
// passkey is refused.
func TestBrowserRecoveryKeepsTheOldPasskey(t *testing.T) {
	exe := findChromium(t)
	mp := mailtest.Start(t)
	app := newTestApp(t, withMailpit(t, mp))
	runMailJobs(t, app.srv)
	shots := artifactDir(t)
	rosa, setup := app.newUser("rosa", false)
	atAccount := func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.issuer)
		return ok && u.Path == "/account" && strings.Contains(s.Text, "Signed in as")
	}
	noAutofill := func(c *chrome) {
		if _, err := chromedp.Call(c.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noAutofillJS}); err != nil {
			t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
		}
	}

	first := newChrome(t, exe, true)
	noAutofill(first)
	first.setUpPasskey(setup, "Old phone")

	second := newChrome(t, exe, true) // a new device without the passkey
	noAutofill(second)
	watch := second.watch() // accepts the delete confirmation
	second.open(app.issuer + "/account")
	second.doT("ask for recovery",
		chromedp.WaitVisible(chromedp.ID("lost-passkey")),
		chromedp.Click(chromedp.ID("lost-passkey")),
		chromedp.WaitVisible(chromedp.ID("recover-email")),
		chromedp.SendKeys(chromedp.ID("recover-email"), "rosa@example.com"),
		chromedp.Click(chromedp.ID("recover-send")),
		chromedp.WaitVisible(chromedp.ID("recovery-sent")),
	)
	second.screenshot(shots, "recovery-01-sent")
	link := mailedLinkIn(t, noticeTo(t, mp, "rosa@example.com", "Add a new passkey to your Latchkey account"))
	second.setUpPasskey(link, "New laptop")
	second.open(app.issuer + "/account")
	second.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	second.signInOn(app.issuer, "/account", atAccount)
	second.expectText("#account-user", "rosa")
	second.expectText("#passkeys", "Old phone")
	second.expectText("#passkeys", "New laptop")
	second.screenshot(shots, "recovery-02-new-passkey")
	noticeTo(t, mp, "rosa@example.com", "A passkey was added to your Latchkey account", `"New laptop"`)

	// The old passkey keeps working on the first device.
	first.open(app.issuer + "/account")
	first.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	first.signInOn(app.issuer, "/account", atAccount)
	first.expectText("#account-user", "rosa")

	// ... unless the user removes it: from the new device, with a notice.
	var oldID string
	stored, err := app.db.CredentialsByUser(context.Background(), rosa.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range stored {
		if c.Name == "Old phone" {
			oldID = c.ID
		}
	}
	second.open(app.issuer + "/account")
	second.doT("open the passkey forms", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#passkeys details").forEach(d => d.open = true)`))
	second.submit("delete the lost passkey", `form[action="/account/passkeys/`+oldID+`/delete"] button`)
	second.expectText(".notice.ok", "The passkey was deleted.")
	if dialogs, _ := watch.seen(); len(dialogs) != 1 || !strings.Contains(dialogs[0], "Old phone") {
		t.Fatalf("confirmation dialogs: %q", dialogs)
	}
	if strings.Contains(second.text("#passkeys"), "Old phone") {
		t.Fatal("the deleted passkey is still listed")
	}
	second.screenshot(shots, "recovery-03-old-removed")
	noticeTo(t, mp, "rosa@example.com", "A passkey was removed from your Latchkey account", `"Old phone"`)

	// The first device, signed out, can no longer sign in with it.
	if _, err := chromedp.Call(first.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatalf("Network.clearBrowserCookies: %v", err)
	}
	first.open(app.issuer + "/account")
	first.doT("wait for the sign-in button", chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	first.doT("try the removed passkey", chromedp.Click(chromedp.ID("passkey-signin")))
	first.waitFor("the sign-in is refused", `(() => { const s = document.getElementById("status");
		return !!s && s.className.includes("error") && s.textContent.trim() !== ""; })()`)
	if st, err := first.state(); err != nil || strings.Contains(st.Text, "Signed in as") {
		t.Fatalf("the removed passkey signed in: %+v %v", st, err)
	}
	first.screenshot(shots, "recovery-04-old-refused")
}
