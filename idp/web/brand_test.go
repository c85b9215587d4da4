package web

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The accent must stay readable (WCAG 1.4.3, 4.5:1) on the light
// backgrounds; the dark scheme gets a lighter shade that is readable on
// the dark card.
func TestAccentContrast(t *testing.T) {
	for _, tc := range []struct {
		accent string
		ok     bool
	}{
		{"#3b5bdb", true}, {"#000000", true}, {"#0B5D1E", true},
		{"#ffff00", false}, {"#ffffff", false}, {"#7aa2f7", false}, // too light on white
		{"#3b5bd", false}, {"3b5bdb", false}, {"#3b5bdg", false}, {"red", false}, {"", false},
	} {
		if p := CheckAccent(tc.accent); (p == "") != tc.ok {
			t.Errorf("CheckAccent(%q) = %q, want ok=%v", tc.accent, p, tc.ok)
		}
	}
	if c := contrast("#000000", "#ffffff"); c < 20.9 || c > 21.1 {
		t.Errorf("contrast black/white = %.2f, want 21", c)
	}
	for _, accent := range []string{"#3b5bdb", "#000000", "#0b5d1e", "#8b0000"} {
		css, err := accentCSS(accent)
		if err != nil {
			t.Fatal(err)
		}
		_, dark, _ := strings.Cut(string(css), "prefers-color-scheme: dark")
		i := strings.Index(dark, "--accent: ")
		d := dark[i+len("--accent: ") : i+len("--accent: ")+7]
		if c := contrast(d, darkCard); c < minContrast {
			t.Errorf("%s: dark shade %s has contrast %.2f on the dark card", accent, d, c)
		}
		if c := contrast(d, darkAccentFg); c < minContrast {
			t.Errorf("%s: text on the dark shade %s has contrast %.2f", accent, d, c)
		}
		if c := contrast(accent, "#ffffff"); c < minContrast {
			t.Errorf("%s: white text on it has contrast %.2f", accent, c)
		}
	}
	if _, err := accentCSS("#ffff00"); err == nil {
		t.Error("accentCSS made a style sheet for an unreadable colour")
	}
}

func TestBrandingInputs(t *testing.T) {
	for name, ok := range map[string]bool{"Acme ID": true, "": true, strings.Repeat("x", 64): true, strings.Repeat("é", 64): true,
		strings.Repeat("x", 65): false, "Acme\nID": false, "Acme\x00": false, "\xff": false} {
		if p := CheckProductName(name); (p == "") != ok {
			t.Errorf("CheckProductName(%q) = %q, want ok=%v", name, p, ok)
		}
	}
	good := pngOf(t, 64, 32)
	if ct, p := CheckImage(good, MaxLogoBytes, true); ct != "image/png" || p != "" {
		t.Errorf("PNG logo: %q %q", ct, p)
	}
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	for what, data := range map[string][]byte{"svg": svg, "gif": gif, "text": []byte("hello"), "empty": nil,
		"tiny": pngOf(t, 8, 8), "huge": pngOf(t, 4000, 16), "truncated": good[:40]} {
		if ct, p := CheckImage(data, MaxLogoBytes, true); ct != "" || p == "" {
			t.Errorf("%s accepted as %q", what, ct)
		}
	}
	big := append(append([]byte{}, good...), make([]byte, MaxFaviconSize)...)
	if _, p := CheckImage(big, MaxFaviconSize, false); !strings.Contains(p, "KiB") {
		t.Errorf("oversize favicon: %q", p)
	}
}

func TestBranderView(t *testing.T) {
	br := NewBrander()
	if v := br.View(); v.Name != DefaultProductName || v.LogoURL != "" || v.CSSURL != "" || v.FaviconURL != "" {
		t.Fatalf("default view %+v", v)
	}
	b := &models.Branding{ProductName: "Acme ID", Accent: "#0b5d1e", Logo: pngOf(t, 32, 32), LogoType: "image/png"}
	br.Set(b)
	v := br.View()
	if v.Name != "Acme ID" || !strings.HasPrefix(v.LogoURL, "/branding/logo?v=") || !strings.HasPrefix(v.CSSURL, "/branding.css?v=") || v.FaviconURL != "" {
		t.Fatalf("branded view %+v", v)
	}
	b2 := *b
	b2.Accent = "#000000"
	if b2.Version() == b.Version() {
		t.Fatal("the version does not follow the accent")
	}
}
