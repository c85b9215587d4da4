package mail

import (
	"html/template"
	"regexp"
	"strings"
	texttemplate "text/template"
	"unicode/utf8"

	"github.com/latchkey-idp/latchkey/models"
)

// Branded email (issue 23): the HTML part shows the product name, the logo
// and the accent colour an admin set in the console; the text part names
// the product. The logo travels as an inline attachment referenced by its
// Content-ID (RFC 2392 "cid:" URLs), which mail clients show without
// fetching anything remote, unlike an https image they block by default.
// The attachment is added when the message is sent, from the branding of
// that moment, so the sealed outbox rows do not each carry a copy.

// LogoCID is the Content-ID of the inline logo.
const LogoCID = "logo@latchkey"

// defaultAccent is Latchkey's own accent (static/app.css).
const defaultAccent = "#3b5bdb"

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// logoImg is the logo's img element of the HTML frame (layout.html).
var logoImg = regexp.MustCompile(`<img src="cid:` + regexp.QuoteMeta(LogoCID) + `"[^>]*> ?`)

// Brand is what a message shows of the branding.
type Brand struct {
	Accent  template.CSS // #rrggbb, checked
	Logo    bool
	LogoCID string
}

// SetBrand makes the mailer brand every message it composes and sends
// with the branding current returns (the console's, idp/web.Brander).
func (m *Mailer) SetBrand(current func() *models.Branding) { m.brand = current }

// branding returns the current branding, or Latchkey's own.
func (m *Mailer) branding() *models.Branding {
	if m.brand == nil {
		return &models.Branding{}
	}
	if b := m.brand(); b != nil {
		return b
	}
	return &models.Branding{}
}

// brandView is the branding's part of a message's data, and the product
// name (the configured service name when the console set none).
func (m *Mailer) brandView() (Brand, string) {
	b := m.branding()
	v := Brand{Accent: defaultAccent, Logo: len(b.Logo) > 0, LogoCID: LogoCID}
	if hexColour.MatchString(b.Accent) {
		v.Accent = template.CSS(b.Accent) //nolint:gosec // G203: checked to be #rrggbb just above
	}
	name := m.cfg.Service
	if b.ProductName != "" {
		name = b.ProductName
	}
	return v, name
}

// wrapWidth is where the text part's lines wrap (RFC 5322 §2.1.1
// recommends at most 78 characters).
const wrapWidth = 72

// wrap breaks s into lines of at most wrapWidth characters at spaces.
func wrap(s string) string {
	var out strings.Builder
	n := 0
	// Split at ASCII spaces only: a no-break space (French "heure\u00a0:")
	// must keep its words together.
	words := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' })
	for i, w := range words {
		l := utf8.RuneCountInString(w)
		switch {
		case i == 0:
		case n+1+l > wrapWidth:
			out.WriteByte('\n')
			n = 0
		default:
			out.WriteByte(' ')
			n++
		}
		out.WriteString(w)
		n += l
	}
	return out.String()
}

var textFuncs = texttemplate.FuncMap{"wrap": wrap}

// htmlFuncs: button gives the "button" template its link and label with
// the message's data.
var htmlFuncs = template.FuncMap{"button": func(data map[string]any, link, label string) map[string]any {
	return map[string]any{"Brand": data["Brand"], "Link": link, "Label": label}
}}

// logoExt names the attachment after the logo's media type.
func logoExt(mediaType string) string {
	switch mediaType {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/svg+xml":
		return ".svg"
	}
	return ""
}
