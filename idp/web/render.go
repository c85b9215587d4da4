package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/static"
	"github.com/latchkey-idp/latchkey/templates"
)

// Pages holds every parsed page template and the static asset versions.
type Pages struct {
	tmpl     map[string]*template.Template
	versions map[string]string // static file name → content hash
	// Brand is the branding every page shows (brand.go).
	Brand *Brander
	// Languages chooses each page's language (lang.go); nil: by
	// Accept-Language alone.
	Languages *Languages
}

// LoadPages parses every named page (each with layout.html and
// partials.html) from the embedded templates, with the asset helper and
// funcs; a missing or broken file fails start-up.
func LoadPages(names []string, extra template.FuncMap) (*Pages, error) {
	p := &Pages{tmpl: map[string]*template.Template{}, versions: map[string]string{}, Brand: NewBrander()}
	err := fs.WalkDir(static.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static.FS, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		p.versions[name] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	all := template.FuncMap{"asset": func(name string) (string, error) {
		v, ok := p.versions[name]
		if !ok {
			return "", fmt.Errorf("unknown static asset %q", name)
		}
		return "/static/" + name + "?v=" + v, nil
	}, "brand": func() Brand { return p.Brand.View() }}
	for k, f := range funcs { // format.go
		all[k] = f
	}
	for k, f := range extra {
		all[k] = f
	}
	for _, name := range names {
		t, err := template.New(name).Funcs(all).ParseFS(templates.FS, "layout.html", "partials.html", name+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	return p, nil
}

// Base is embedded in every page's data.
type Base struct {
	CSRF    string
	Scripts []string
	// T translates the page (lang.go); Render sets it.
	T *i18n.Tr
	// Switcher is the language switcher; nil on the console.
	Switcher *Switcher
}

// setLanguage is called by Render.
func (b *Base) setLanguage(t *i18n.Tr, sw *Switcher) { b.T, b.Switcher = t, sw }

// SetCSRF copies the request's CSRF token (set by the CSRF middleware)
// into the page, unless Fetch Metadata alone vouched for the request.
func (b *Base) SetCSRF(c echo.Context) {
	if tok, ok := c.Get("csrf").(string); ok && tok != middleware.CSRFUsingSecFetchSite {
		b.CSRF = tok
	}
}

// MessagePage is the page of a one-line message or an error.
type MessagePage struct {
	Base
	Title, Message, Hint, RequestID string
	IsError                         bool
}

// PageData is a page's data: a struct embedding Base.
type PageData interface{ SetCSRF(echo.Context) }

// Render executes a page into a buffer first so a template error becomes a
// clean 500 instead of half a page.
func (p *Pages) Render(c echo.Context, status int, name string, data PageData) error {
	t, ok := p.tmpl[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	data.SetCSRF(c)
	if l, ok := data.(interface {
		setLanguage(*i18n.Tr, *Switcher)
	}); ok {
		var sw *Switcher
		if switchable(c) {
			sw = &Switcher{Next: "/", Languages: i18n.Languages}
			if r := c.Request(); r.Method == http.MethodGet && localPath(r.URL.RequestURI()) {
				sw.Next = r.URL.RequestURI()
			}
		}
		l.setLanguage(p.Tr(c), sw)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// Message renders the message page; status >= 400 shows it as an error.
// Title, message and hint are message IDs (i18n.Key) or English text.
func (p *Pages) Message(c echo.Context, status int, title, msg, hint string) error {
	return p.Render(c, status, "message", &MessagePage{Title: title, Message: msg, Hint: hint, IsError: status >= 400})
}

// HandleStatic serves embedded assets. Versioned URLs are immutable.
func HandleStatic(c echo.Context) error {
	name := path.Clean(strings.TrimPrefix(c.Param("*"), "/"))
	b, err := fs.ReadFile(static.FS, name)
	if err != nil {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	if c.QueryParam("v") != "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return c.Blob(http.StatusOK, ct, b)
}

// HandleFavicon sends browsers to the SVG icon.
func HandleFavicon(c echo.Context) error {
	return c.Redirect(http.StatusMovedPermanently, "/static/favicon.svg")
}
