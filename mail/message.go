package mail

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/mail"
	"strings"
	"sync"
	texttemplate "text/template"
	"unicode/utf8"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/templates"
)

// Kinds of message; each has templates/mail/KIND.txt and KIND.html.
const (
	KindInvitation     = "invitation"
	KindPasskeyAdded   = "passkey_added"
	KindPasskeyRemoved = "passkey_removed"
	KindRecovery       = "recovery"
	// KindNewProvider: a sign-in with a passkey from a provider the
	// account never signed in with before.
	KindNewProvider = "passkey_new_provider"
	// KindEmailVerify carries the one-time link that verifies a new
	// address (sent to the new address); KindEmailNotice tells the old
	// address that a change was requested (Done false) or made (Done true).
	KindEmailVerify = "email_change_verify"
	KindEmailNotice = "email_change_notice"
)

// Sign-up (issue 22): the verification link of a new account, the notice
// to the owner of an address someone tried to sign up with, and the
// notice that a recovery code was used.
const (
	KindSignupVerify     = "signup_verify"
	KindSignupExists     = "signup_exists"
	KindRecoveryCodeUsed = "recovery_code_used"
)

var kinds = []string{KindInvitation, KindPasskeyAdded, KindPasskeyRemoved, KindRecovery, KindNewProvider, KindEmailVerify, KindEmailNotice,
	KindSignupVerify, KindSignupExists, KindRecoveryCodeUsed}

// Limits on what goes into a message (RFC 5321 §4.5.3.1.3: a path is at
// most 256 octets, so an address at most 254; names and parts are ours).
const (
	MaxAddress = 254
	MaxName    = 200
	MaxSubject = 200
	MaxPart    = 64 << 10
)

var (
	// ErrNoAddress is returned when the user has no email address, so no
	// mail is sent.
	ErrNoAddress = errors.New("the user has no email address")
	// ErrInvalid wraps models.ErrInvalid for a malformed address, a header
	// value with a line break, an oversize field. Nothing was queued.
	ErrInvalid = fmt.Errorf("invalid message: %w", models.ErrInvalid)
)

// Message is one composed email.
type Message struct {
	Kind       string
	To, ToName string // a bare address and an optional display name
	Subject    string
	Text, HTML string
	UserID     string
}

// CheckAddress accepts exactly one bare address (local@domain, RFC 5322
// §3.4.1), at most MaxAddress bytes, without line breaks: a CR or LF in a
// header value would start a new header (header injection).
func CheckAddress(addr string) error {
	switch {
	case addr == "":
		return fmt.Errorf("%w: the address is empty", ErrInvalid)
	case len(addr) > MaxAddress:
		return fmt.Errorf("%w: the address is longer than %d bytes", ErrInvalid, MaxAddress)
	case strings.ContainsAny(addr, "\r\n"):
		return fmt.Errorf("%w: the address contains a line break", ErrInvalid)
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" || !strings.Contains(addr, "@") {
		return fmt.Errorf("%w: %q is not an email address (name@example.com)", ErrInvalid, addr)
	}
	return nil
}

// checkHeaderText accepts a display name or subject: valid UTF-8, no
// control characters (CR and LF would inject headers, RFC 5322 §2.2), at
// most max bytes.
func checkHeaderText(what, s string, maxLen int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: the %s is not valid UTF-8", ErrInvalid, what)
	}
	if len(s) > maxLen {
		return fmt.Errorf("%w: the %s is longer than %d bytes", ErrInvalid, what, maxLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: the %s contains a control character or line break", ErrInvalid, what)
		}
	}
	return nil
}

// Check validates every field; Queue calls it.
func (m *Message) Check() error {
	if err := CheckAddress(m.To); err != nil {
		return err
	}
	if err := checkHeaderText("recipient name", m.ToName, MaxName); err != nil {
		return err
	}
	if err := checkHeaderText("subject", m.Subject, MaxSubject); err != nil {
		return err
	}
	if m.Subject == "" || m.Text == "" || m.HTML == "" {
		return fmt.Errorf("%w: a message needs a subject, a text part and an HTML part", ErrInvalid)
	}
	if len(m.Text) > MaxPart || len(m.HTML) > MaxPart {
		return fmt.Errorf("%w: a part is longer than %d bytes", ErrInvalid, MaxPart)
	}
	return nil
}

// composer renders the templates of every kind, parsed once.
type composer struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// newComposer parses every kind's templates and fails when one is missing.
func newComposer(fsys fs.FS) (*composer, error) {
	c := &composer{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, k := range kinds {
		t, err := texttemplate.New(k+".txt").Option("missingkey=error").Funcs(textFuncs).ParseFS(fsys, "mail/"+k+".txt")
		if err != nil {
			return nil, fmt.Errorf("mail template %s.txt: %w", k, err)
		}
		if t.Lookup("subject") == nil {
			return nil, fmt.Errorf("mail template %s.txt defines no subject", k)
		}
		h, err := htmltemplate.New(k+".html").Option("missingkey=error").Funcs(htmlFuncs).ParseFS(fsys, "mail/"+k+".html", "mail/layout.html")
		if err != nil {
			return nil, fmt.Errorf("mail template %s.html: %w", k, err)
		}
		c.text[k], c.html[k] = t, h
	}
	return c, nil
}

// loadComposer parses the embedded templates once.
var loadComposer = sync.OnceValues(func() (*composer, error) { return newComposer(templates.Mail) })

// compose renders kind with data into m's subject and parts.
func (c *composer) compose(m *Message, data any) error {
	t, ok := c.text[m.Kind]
	if !ok {
		return fmt.Errorf("%w: unknown kind of message %q", ErrInvalid, m.Kind)
	}
	var subj, text, html bytes.Buffer
	if err := t.ExecuteTemplate(&subj, "subject", data); err != nil {
		return fmt.Errorf("render %s subject: %w", m.Kind, err)
	}
	if err := t.Execute(&text, data); err != nil {
		return fmt.Errorf("render %s text: %w", m.Kind, err)
	}
	if err := c.html[m.Kind].Execute(&html, data); err != nil {
		return fmt.Errorf("render %s HTML: %w", m.Kind, err)
	}
	m.Subject, m.Text, m.HTML = strings.TrimSpace(subj.String()), text.String(), html.String()
	return nil
}
