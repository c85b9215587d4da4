package idp

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

	"github.com/latchkey-idp/latchkey/static"
	"github.com/latchkey-idp/latchkey/templates"
)

// pages holds every parsed page template and the static asset versions.
type pages struct {
	tmpl     map[string]*template.Template
	versions map[string]string // static file name → content hash
}

// pageNames lists every page; a missing file fails start-up.
var pageNames = append(append([]string{"login", "setup", "message", "home"}, adminPageNames...), protocolPageNames...)

func loadPages() (*pages, error) {
	p := &pages{tmpl: map[string]*template.Template{}, versions: map[string]string{}}
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
	funcs := template.FuncMap{"asset": func(name string) (string, error) {
		v, ok := p.versions[name]
		if !ok {
			return "", fmt.Errorf("unknown static asset %q", name)
		}
		return "/static/" + name + "?v=" + v, nil
	}}
	for k, f := range adminFuncs { // admin_pages.go
		funcs[k] = f
	}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templates.FS, "layout.html", "partials.html", name+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	return p, nil
}

// base is embedded in every page's data.
type base struct {
	CSRF    string
	Scripts []string
}

func (b *base) setCSRF(c echo.Context) {
	if tok, ok := c.Get("csrf").(string); ok && tok != middleware.CSRFUsingSecFetchSite {
		b.CSRF = tok
	}
}

type messagePage struct {
	base
	Title, Message, Hint, RequestID string
	IsError                         bool
}

type pageData interface{ setCSRF(echo.Context) }

// render executes a page into a buffer first so a template error becomes a
// clean 500 instead of half a page.
func (s *Server) render(c echo.Context, status int, name string, data pageData) error {
	t, ok := s.pages.tmpl[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	data.setCSRF(c)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

func (s *Server) message(c echo.Context, status int, title, msg, hint string) error {
	return s.render(c, status, "message", &messagePage{Title: title, Message: msg, Hint: hint, IsError: status >= 400})
}

// handleStatic serves embedded assets. Versioned URLs are immutable.
func (s *Server) handleStatic(c echo.Context) error {
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

func (s *Server) handleFavicon(c echo.Context) error {
	return c.Redirect(http.StatusMovedPermanently, "/static/favicon.svg")
}
