package mail

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
)

// messageID is a catalogue ID left in a message instead of its text.
var messageID = regexp.MustCompile(`\b(mail|layout|common)\.[a-z_]+`)

// TestEveryKindInEveryLanguage (issue 23: every email in every shipped
// language) composes each kind of message with the fields its caller in
// package idp passes, for a recipient of each language: it renders, says
// who it is for, names the language in its HTML part, and its subject,
// text and HTML all differ from the English ones; no message ID shows
// untranslated.
func TestEveryKindInEveryLanguage(t *testing.T) {
	clk := newClock()
	_, sealer := openDB(t, clk)
	var logs bytes.Buffer
	m := newMailer(t, nil, clk, sealer, &logs)
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	data := map[string][]map[string]any{
		KindInvitation:       {{"Link": "https://id.example/setup/T", "Expires": 72 * time.Hour}},
		KindPasskeyAdded:     {{"Passkey": "Laptop", "Provider": "1Password", "When": now, "AccountURL": "https://id.example/account"}},
		KindPasskeyRemoved:   {{"Passkey": "Laptop", "Provider": "", "When": now, "AccountURL": "https://id.example/account"}},
		KindNewProvider:      {{"Passkey": "Laptop", "Provider": "1Password", "When": now, "AccountURL": "https://id.example/account"}, {"Passkey": "Laptop", "Provider": "", "When": now, "AccountURL": "https://id.example/account"}},
		KindRecovery:         {{"Link": "https://id.example/setup/T", "Expires": time.Hour, "ClientIP": "203.0.113.7"}},
		KindEmailVerify:      {{"Link": "https://id.example/email/verify/T", "Expires": time.Hour, "NewEmail": "new@example.com"}},
		KindEmailNotice:      {{"NewEmail": "new@example.com", "Done": false, "When": now, "AccountURL": "https://id.example/account"}, {"NewEmail": "new@example.com", "Done": true, "When": now, "AccountURL": "https://id.example/account"}},
		KindSignupVerify:     {{"Link": "https://id.example/setup/T", "Expires": 24 * time.Hour, "ClientIP": "203.0.113.7"}},
		KindSignupExists:     {{"RecoverURL": "https://id.example/recover", "ClientIP": "203.0.113.7"}},
		KindRecoveryCodeUsed: {{"ClientIP": "203.0.113.7", "Left": 1, "AccountURL": "https://id.example/account"}, {"ClientIP": "", "Left": 0, "AccountURL": "https://id.example/account"}},
	}
	for _, kind := range kinds {
		if len(data[kind]) == 0 {
			t.Errorf("%s: no test data for this kind of message", kind)
			continue
		}
		for i, d := range data[kind] {
			english := map[string]string{}
			for _, l := range i18n.Languages {
				u := &models.User{ID: "u1", Username: "ada", Email: "ada@example.com", DisplayName: "Ada Lovelace", Locale: l.Tag}
				msg, err := m.Compose(kind, u, d)
				if err != nil {
					t.Errorf("%s #%d in %s: %v", kind, i, l.Tag, err)
					continue
				}
				parts := map[string]string{"subject": msg.Subject, "text": msg.Text, "html": msg.HTML}
				for name, p := range parts {
					if p == "" || strings.Contains(p, "<no value>") || messageID.MatchString(p) {
						t.Errorf("%s #%d in %s: %s part is empty or untranslated: %q", kind, i, l.Tag, name, p)
					}
					if l.Tag == i18n.Default {
						english[name] = p
					} else if p == english[name] {
						t.Errorf("%s #%d in %s: the %s is the English one", kind, i, l.Tag, name)
					}
				}
				if !strings.Contains(msg.HTML, `<html lang="`+l.Tag+`">`) || !strings.Contains(msg.Text, "Ada Lovelace") || !strings.Contains(msg.HTML, "Ada Lovelace") {
					t.Errorf("%s #%d in %s: no lang or no recipient name:\n%s", kind, i, l.Tag, msg.HTML)
				}
			}
		}
	}
}
