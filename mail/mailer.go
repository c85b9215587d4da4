package mail

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/models"
)

// Config configures a Mailer.
type Config struct {
	// SMTP is where mail goes; nil means this instance sends nothing
	// (messages still queue, e.g. from the CLI).
	SMTP *SMTP
	// From is the sender, "Name <addr>" or a bare address; required with
	// SMTP.
	From string
	// Service names the installation in messages (the WebAuthn RP name).
	Service string
	// RetryBase is the wait after the first failed attempt, doubled after
	// each further one up to RetryCap (defaults 30 s and 1 h).
	RetryBase, RetryCap time.Duration
	// MaxAttempts is how many attempts a message gets before it is given
	// up as undeliverable (default 10: about 4 h with the defaults).
	MaxAttempts int64
	// Timeout bounds one SMTP session (default 30 s).
	Timeout time.Duration
	// RootCAs verifies the SMTP server's certificate for STARTTLS and
	// smtps:// (nil: the system's roots); --smtp-ca-file sets it for a
	// relay whose certificate a private CA signed.
	RootCAs *x509.CertPool
	Now     func() time.Time
	Logger  *slog.Logger
}

// Defaults fills zero values.
func (c *Config) Defaults() {
	if c.Service == "" {
		c.Service = "Latchkey"
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 30 * time.Second
	}
	if c.RetryCap <= 0 {
		c.RetryCap = time.Hour
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate lists the configuration's problems.
func (c *Config) Validate() []string {
	var probs []string
	if c.SMTP != nil && c.From == "" {
		probs = append(probs, "--smtp-from is required with --smtp-url")
	}
	if c.From != "" {
		if _, err := parseFrom(c.From); err != nil {
			probs = append(probs, err.Error())
		}
	}
	return probs
}

func parseFrom(from string) (*mail.Address, error) {
	a, err := mail.ParseAddress(from)
	if err != nil || CheckAddress(a.Address) != nil || checkHeaderText("sender name", a.Name, MaxName) != nil {
		return nil, fmt.Errorf("--smtp-from %q is not an address such as Latchkey <noreply@example.com>", from)
	}
	return a, nil
}

// Mailer composes, queues and delivers mail.
type Mailer struct {
	cfg    Config
	sealer *models.Sealer
	comp   *composer
	from   *mail.Address
	brand  func() *models.Branding // brand.go
}

// New builds a Mailer; sealer seals message bodies in the outbox.
func New(cfg Config, sealer *models.Sealer) (*Mailer, error) {
	cfg.Defaults()
	if probs := cfg.Validate(); len(probs) > 0 {
		return nil, errors.New(probs[0])
	}
	comp, err := loadComposer()
	if err != nil {
		return nil, err
	}
	m := &Mailer{cfg: cfg, sealer: sealer, comp: comp}
	if cfg.From != "" {
		m.from, _ = parseFrom(cfg.From)
	}
	return m, nil
}

// Sends reports whether this instance delivers mail (an SMTP server is
// configured). Without one, the console and API refuse to send
// invitations, and notices are not queued.
func (m *Mailer) Sends() bool { return m.cfg.SMTP != nil }

// Queuer is where a message is queued: a *models.DB, usually the
// transaction (InTx) of the action that causes the message.
type Queuer interface {
	QueueMail(ctx context.Context, m *models.OutboxMessage) error
}

// body is what is sealed in the outbox row.
type body struct {
	ToName string `json:"to_name,omitempty"`
	Text   string `json:"text"`
	HTML   string `json:"html"`
	// Logo: the HTML shows the inline logo, attached when sent (brand.go).
	Logo bool `json:"logo,omitempty"`
}

// Compose renders a message of kind to u with data (the template's
// fields; Name, Username, Service, Brand and T, the translator of the
// recipient's language, are added; data["Lang"] is the language of the
// request that caused the message, for a recipient who chose none). Errors: ErrNoAddress
// when u has no email, ErrInvalid for a bad address or name.
func (m *Mailer) Compose(kind string, u *models.User, data map[string]any) (*Message, error) {
	if u.Email == "" {
		return nil, fmt.Errorf("%s: %w", u.Username, ErrNoAddress)
	}
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	brand, service := m.brandView() // brand.go
	all := map[string]any{"Name": name, "Username": u.Username, "Service": service, "Brand": brand}
	for k, v := range data {
		all[k] = v
	}
	// The recipient's saved language, else that of the request that
	// caused the message (data["Lang"]), else English.
	lang, _ := data["Lang"].(string)
	if i18n.Supported(u.Locale) {
		lang = u.Locale
	}
	all["T"] = i18n.For(lang)
	msg := &Message{Kind: kind, To: u.Email, ToName: u.DisplayName, UserID: u.ID}
	if err := m.comp.compose(msg, all); err != nil {
		return nil, err
	}
	if err := msg.Check(); err != nil {
		return nil, err
	}
	return msg, nil
}

// Queue composes a message (Compose) and writes it, sealed, to q's
// outbox. It returns the row's ID. Nothing is queued on error.
func (m *Mailer) Queue(ctx context.Context, q Queuer, kind string, u *models.User, data map[string]any) (string, error) {
	msg, err := m.Compose(kind, u, data)
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(body{ToName: msg.ToName, Text: msg.Text, HTML: msg.HTML, Logo: strings.Contains(msg.HTML, "cid:"+LogoCID)})
	if err != nil {
		return "", err
	}
	row := &models.OutboxMessage{ID: models.NewTimeOrderedID(), Kind: kind, UserID: u.ID, Recipient: msg.To, Subject: msg.Subject}
	row.Body = m.sealer.Seal(raw, []byte(row.ID))
	if err := q.QueueMail(ctx, row); err != nil {
		return "", err
	}
	return row.ID, nil
}
