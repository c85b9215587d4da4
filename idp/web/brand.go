package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // logos may be JPEG
	_ "image/png"  // logos and favicons may be PNG
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/models"
)

// Branding (issue 23): the product name, accent colour, logo and favicon
// an admin set in the console, on every page of both listeners. The CSP
// stays as it is: the colour comes in a style sheet and the images from
// URLs of our own origin (/branding/...), never inline. Every instance
// keeps the branding in memory and reloads it every few seconds
// (idp/jobs.go), so pages never wait for the database to know it.

// DefaultProductName is the name shown when none is set.
const DefaultProductName = "Latchkey"

// Limits of what the console accepts.
const (
	MaxProductName = 64
	MaxLogoBytes   = 256 << 10
	MaxFaviconSize = 64 << 10
	maxImageSide   = 2048
)

// Backgrounds the accent must stay readable on (static/app.css): the
// light page and card, and the dark card, the lightest dark background.
var (
	lightBackgrounds = []string{"#ffffff", "#f5f6f8"}
	darkCard         = "#1b1e25"
	darkAccentFg     = "#0b0d12"
)

// minContrast is WCAG 2.2 success criterion 1.4.3's ratio for normal
// text (links are text in the accent colour).
const minContrast = 4.5

// Brand is what a page shows of the branding.
type Brand struct {
	Name        string
	LogoURL     string // "" for Latchkey's icon
	FaviconURL  string // "" for Latchkey's icon
	FaviconType string
	CSSURL      string // "" when no accent is set
}

// brandState is the loaded branding with what pages and handlers derive
// from it once.
type brandState struct {
	b    *models.Branding
	view Brand
	css  []byte
}

// Brander holds the current branding of this instance.
type Brander struct{ cur atomic.Pointer[brandState] }

// NewBrander returns a Brander with Latchkey's own look.
func NewBrander() *Brander {
	br := &Brander{}
	br.Set(&models.Branding{ID: 1})
	return br
}

// View returns the branding for a page.
func (br *Brander) View() Brand { return br.cur.Load().view }

// Current returns the stored branding in use.
func (br *Brander) Current() *models.Branding { return br.cur.Load().b }

// Set makes b the branding of this instance's pages.
func (br *Brander) Set(b *models.Branding) {
	st := &brandState{b: b, view: Brand{Name: b.ProductName}}
	if st.view.Name == "" {
		st.view.Name = DefaultProductName
	}
	v := b.Version()
	if len(b.Logo) > 0 {
		st.view.LogoURL = "/branding/logo?v=" + v
	}
	if len(b.Favicon) > 0 {
		st.view.FaviconURL, st.view.FaviconType = "/branding/favicon?v="+v, b.FaviconType
	}
	if b.Accent != "" {
		if css, err := accentCSS(b.Accent); err == nil {
			st.css, st.view.CSSURL = css, "/branding.css?v="+v
		}
	}
	br.cur.Store(st)
}

// Reload reads the branding from the database; on an error the current
// one stays.
func (br *Brander) Reload(ctx context.Context, db interface {
	LoadBranding(context.Context) (*models.Branding, error)
}) error {
	b, err := db.LoadBranding(ctx)
	if err != nil {
		return err
	}
	if b.Version() != br.Current().Version() {
		br.Set(b)
	}
	return nil
}

// HandleCSS serves GET /branding.css: the accent colours.
func (br *Brander) HandleCSS(c echo.Context) error {
	st := br.cur.Load()
	if st.css == nil {
		return echo.ErrNotFound
	}
	brandCache(c)
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", st.css)
}

// HandleLogo serves GET /branding/logo.
func (br *Brander) HandleLogo(c echo.Context) error {
	b := br.Current()
	if len(b.Logo) == 0 {
		return echo.ErrNotFound
	}
	brandCache(c)
	return c.Blob(http.StatusOK, b.LogoType, b.Logo)
}

// HandleFavicon serves GET /branding/favicon.
func (br *Brander) HandleFavicon(c echo.Context) error {
	b := br.Current()
	if len(b.Favicon) == 0 {
		return echo.ErrNotFound
	}
	brandCache(c)
	return c.Blob(http.StatusOK, b.FaviconType, b.Favicon)
}

// HandleFaviconICO serves GET /favicon.ico, which browsers ask for on
// their own: the branded favicon, else Latchkey's icon.
func (br *Brander) HandleFaviconICO(c echo.Context) error {
	if u := br.View().FaviconURL; u != "" {
		return c.Redirect(http.StatusFound, u)
	}
	return HandleFavicon(c)
}

// brandCache: a versioned URL never changes; another instance may still
// serve the old branding for a few seconds, so only short caching
// without a version.
func brandCache(c echo.Context) {
	if c.QueryParam("v") != "" {
		c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		c.Response().Header().Set("Cache-Control", "public, max-age=60")
	}
}

// CheckProductName returns a problem with name, or "".
func CheckProductName(name string) string {
	switch {
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxProductName:
		return fmt.Sprintf("The product name must be text of at most %d characters.", MaxProductName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "The product name must be one line of text."
	}
	return ""
}

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// CheckAccent returns a problem with the accent colour (#rrggbb), or "":
// links are text in that colour, so it must reach WCAG's 4.5:1 contrast
// on the light backgrounds. The dark scheme gets a lighter variant
// (accentCSS).
func CheckAccent(accent string) string {
	if !hexColour.MatchString(accent) {
		return "The accent colour must be written #rrggbb, for example #3b5bdb."
	}
	for _, bg := range lightBackgrounds {
		if r := contrast(accent, bg); r < minContrast {
			return fmt.Sprintf("The accent colour %s has a contrast of %.1f:1 on the page background %s; text needs at least 4.5:1 (WCAG 1.4.3). Choose a darker colour.", accent, r, bg)
		}
	}
	return ""
}

// accentCSS is the style sheet of an accent: the colour itself in the
// light scheme with white text on it, and in the dark scheme the colour
// mixed with white until it is readable on the dark card.
func accentCSS(accent string) ([]byte, error) {
	if p := CheckAccent(accent); p != "" {
		return nil, errors.New(p)
	}
	dark := accent
	for mix := 0.0; contrast(dark, darkCard) < minContrast && mix <= 1; mix += 0.05 {
		dark = mixWhite(accent, mix)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, ":root { --accent: %s; --accent-fg: #ffffff; }\n", strings.ToLower(accent))
	fmt.Fprintf(&b, "@media (prefers-color-scheme: dark) {\n  :root { --accent: %s; --accent-fg: %s; }\n}\n", dark, darkAccentFg)
	return b.Bytes(), nil
}

func rgb(hex string) (r, g, b float64) {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	return float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)
}

// luminance is WCAG 2.2's relative luminance of an sRGB colour.
func luminance(hex string) float64 {
	lin := func(c float64) float64 {
		c /= 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	r, g, b := rgb(hex)
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// contrast is WCAG 2.2's contrast ratio of two colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func mixWhite(hex string, t float64) string {
	r, g, b := rgb(hex)
	m := func(c float64) int { return int(math.Round(c + (255-c)*t)) }
	return fmt.Sprintf("#%02x%02x%02x", m(r), m(g), m(b))
}

// CheckImage returns the content type of an uploaded logo or favicon, or
// a problem: PNG (or JPEG for a logo), at most limit bytes and 2048 pixels a
// side. SVG is refused: opened on its own it runs scripts in our origin.
func CheckImage(data []byte, limit int, jpegOK bool) (string, string) {
	if len(data) > limit {
		return "", fmt.Sprintf("The image is %d KiB; at most %d KiB.", (len(data)+1023)/1024, limit/1024)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case err != nil || (format != "png" && (format != "jpeg" || !jpegOK)):
		if jpegOK {
			return "", "The image must be a PNG or JPEG file."
		}
		return "", "The image must be a PNG file."
	case cfg.Width < 16 || cfg.Height < 16 || cfg.Width > maxImageSide || cfg.Height > maxImageSide:
		return "", fmt.Sprintf("The image is %d×%d pixels; each side must be from 16 to %d.", cfg.Width, cfg.Height, maxImageSide)
	}
	// The header was fine; the whole image must decode too (a truncated
	// or corrupt file shows as a broken image).
	if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
		return "", "The image file is damaged: " + err.Error()
	}
	return "image/" + format, ""
}
