package idp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-idp/latchkey/passkeys"
)

// useBackupFlags replaces the tab's virtual authenticator with one whose
// new credentials carry the given backup eligibility and state (BE/BS),
// as a synced passkey provider's would.
func (c *chrome) useBackupFlags(backup bool) {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: c.authID}); err != nil {
		c.fatalf("WebAuthn.removeVirtualAuthenticator: %v", err)
	}
	res, err := chromedp.Call(c.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
			DefaultBackupEligibility:    backup,
			DefaultBackupState:          backup,
		},
	})
	if err != nil {
		c.fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	c.authID = res.AuthenticatorID
}

// TestBrowserPolicyDeviceBound: under the device-bound policy, the virtual
// authenticator's backup flags decide whether the setup page creates the
// passkey or explains the refusal.
func TestBrowserPolicyDeviceBound(t *testing.T) {
	exe := findChromium(t)
	for _, tc := range []struct {
		name   string
		backup bool
	}{{"device-bound accepted", false}, {"synced refused", true}} {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp(t, func(c *Config) { c.Passkeys.Policy.Level = passkeys.PolicyDeviceBound })
			user, setupURL := app.newUser(browserUsername, false)
			c := newChrome(t, exe, true)
			c.useBackupFlags(tc.backup)
			if !tc.backup {
				c.setUpPasskey(setupURL, "Security key")
				stored, err := app.db.CredentialsByUser(context.Background(), user.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(stored) != 1 || stored[0].BackupEligible || stored[0].BackupState {
					t.Fatalf("stored %+v, want one device-bound passkey", stored)
				}
				return
			}
			c.do("try to create a synced passkey",
				chromedp.Navigate(setupURL),
				chromedp.WaitVisible(chromedp.ID("passkey-create")),
				chromedp.Click(chromedp.ID("passkey-create")),
			)
			var s pageState
			for {
				if err := c.ctx.Err(); err != nil {
					c.fatalf("no refusal shown (status %q): %v", s.Status, err)
				}
				var err error
				if s, err = c.state(); err == nil && strings.Contains(s.StatusKind, "error") && s.Status != "" {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			const want = "Your organisation only accepts passkeys that stay on one device, such as a security key. This passkey can be synced to other devices. Use a hardware security key or a passkey that stays on this device."
			if s.Status != want {
				c.fatalf("setup page says %q\nwant %q", s.Status, want)
			}
			if strings.Contains(s.Text, "Your passkey is ready") {
				c.fatalf("setup page claims success")
			}
			if n := len(c.credentials()); n != 1 {
				c.fatalf("virtual authenticator holds %d credentials, want 1 (created, then refused by the server)", n)
			}
			stored, err := app.db.CredentialsByUser(context.Background(), user.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 0 {
				t.Fatalf("server stored %d passkeys after refusing", len(stored))
			}
		})
	}
}
