package mail

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// The email change messages render in every language with both parts,
// the link in each; a name with a line break is refused (header
// injection) and queues nothing.
func TestEmailChangeMessages(t *testing.T) {
	m, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for lang, want := range map[string][2]string{
		"en": {"Confirm your new email address", "A change of your Latchkey email address was requested"},
		"de": {"Bestätigen Sie Ihre neue E-Mail-Adresse", "Eine Änderung Ihrer E-Mail-Adresse bei Latchkey wurde angefordert"},
		"fr": {"Confirmez votre nouvelle adresse e-mail", "Un changement de votre adresse e-mail Latchkey a été demandé"},
	} {
		u := &models.User{Username: "ada", Email: "ada@new.example", DisplayName: "Ada", Locale: lang}
		link := "https://id.example/email/verify/abc"
		msg, err := m.Compose(KindEmailVerify, u, map[string]any{"Link": link, "Expires": time.Hour, "NewEmail": u.Email})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(msg.Subject, want[0]) || !strings.Contains(msg.Text, link) || !strings.Contains(msg.HTML, `href="`+link+`"`) {
			t.Errorf("%s verify: %q\n%s", lang, msg.Subject, msg.Text)
		}
		u.Email = "ada@old.example"
		for _, done := range []bool{false, true} {
			msg, err = m.Compose(KindEmailNotice, u, map[string]any{"NewEmail": "ada@new.example", "Done": done, "When": time.Now(),
				"AccountURL": "https://id.example/account"})
			if err != nil {
				t.Fatal(err)
			}
			if msg.To != "ada@old.example" || !strings.Contains(msg.Text, "ada@new.example") || !strings.Contains(msg.HTML, "ada@new.example") {
				t.Errorf("%s notice done=%v: %q\n%s", lang, done, msg.Subject, msg.Text)
			}
			if !done && msg.Subject != want[1] {
				t.Errorf("%s notice subject %q", lang, msg.Subject)
			}
		}
	}
	bad := &models.User{Username: "eve", Email: "eve@example.com", DisplayName: "Eve\r\nBcc: x@example.net"}
	if _, err := m.Compose(KindEmailVerify, bad, map[string]any{"Link": "x", "Expires": time.Hour, "NewEmail": bad.Email}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a name with a line break: %v", err)
	}
}
