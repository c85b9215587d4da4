package idp

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, h/2, color.RGBA{B: 200, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// postMultipart posts a multipart form with the CSRF field and files.
func (b *browser) postMultipart(u, csrf string, fields map[string]string, files map[string][]byte) *http.Response {
	b.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("_csrf", csrf)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	for k, data := range files {
		part, _ := w.CreateFormFile(k, k+".png")
		_, _ = part.Write(data)
	}
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, b.abs(u), &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp
}

// TestAdminBranding: an admin sets the product name, accent colour, logo
// and favicon in the console; every public page shows them from our own
// origin with the CSP unchanged; bad input (an unreadable colour, SVG,
// a damaged or oversize image, a long name) is refused and changes
// nothing; another instance picks the change up (issue 23).
func TestAdminBranding(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	admin, _ := adminWithConsole(t, app)
	page, csrf := admin.adminPage(app.adminURL+"/admin/branding", http.StatusOK)
	if !strings.Contains(page, `id="branding-form"`) || !strings.Contains(page, `enctype="multipart/form-data"`) {
		t.Fatalf("branding page:\n%s", page)
	}
	home := admin.get(app.issuer + "/")
	readBody(t, home)
	cspBefore := home.Header.Get("Content-Security-Policy")

	logo, favicon := testPNG(t, 120, 40), testPNG(t, 32, 32)
	for _, bad := range []struct {
		name   string
		fields map[string]string
		files  map[string][]byte
		want   string
	}{
		{"unreadable accent", map[string]string{"product_name": "Acme", "accent": "#ffff00"}, nil, "contrast"},
		{"malformed accent", map[string]string{"accent": "blue"}, nil, "#rrggbb"},
		{"long name", map[string]string{"product_name": strings.Repeat("A", 65)}, nil, "64"},
		{"two-line name", map[string]string{"product_name": "Acme\r\nX-Evil: 1"}, nil, "one line"},
		{"svg logo", map[string]string{"product_name": "Acme"}, map[string][]byte{"logo": []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)}, "PNG or JPEG"},
		{"damaged logo", map[string]string{"product_name": "Acme"}, map[string][]byte{"logo": logo[:60]}, "Logo"},
		{"oversize favicon", map[string]string{"product_name": "Acme"}, map[string][]byte{"favicon": append(append([]byte{}, favicon...), make([]byte, 70<<10)...)}, "Favicon"},
		{"jpeg-named text favicon", map[string]string{}, map[string][]byte{"favicon": []byte("not an image")}, "PNG"},
	} {
		resp := admin.postMultipart(app.adminURL+"/admin/branding", csrf, bad.fields, bad.files)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, bad.want) {
			t.Fatalf("%s: %d, want 400 mentioning %q:\n%s", bad.name, resp.StatusCode, bad.want, body)
		}
		if b, err := app.db.LoadBranding(ctx); err != nil || b.ProductName != "" || len(b.Logo) != 0 || len(b.Favicon) != 0 {
			t.Fatalf("%s: a refused form changed the branding: %v %+v", bad.name, err, b)
		}
	}

	resp := admin.postMultipart(app.adminURL+"/admin/branding", csrf, map[string]string{"product_name": "Acme ID", "accent": "#0B5D1E"},
		map[string][]byte{"logo": logo, "favicon": favicon})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save branding: %d", resp.StatusCode)
	}
	if evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventBrandingUpdated}); len(evs) != 1 || evs[0].ActorID == "" || evs[0].Detail["product_name"] != "Acme ID" {
		t.Fatalf("branding audit: %+v", evs)
	}

	// Every public page shows it, from our own origin.
	for _, path := range []string{"/", "/device", "/account", "/setup/not-a-token"} {
		resp := admin.get(app.issuer + path)
		body := readBody(t, resp)
		if !strings.Contains(body, "Acme ID") || !strings.Contains(body, `href="/branding.css?v=`) || !strings.Contains(body, `src="/branding/logo?v=`) ||
			!strings.Contains(body, `rel="icon" href="/branding/favicon?v=`) || strings.Contains(body, "· Latchkey") {
			t.Fatalf("%s is not branded:\n%s", path, body)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != cspBefore || got == "" {
			t.Fatalf("%s: CSP %q changed from %q", path, got, cspBefore)
		}
	}
	for path, want := range map[string]string{"/branding.css": "text/css", "/branding/logo": "image/png", "/branding/favicon": "image/png"} {
		resp := admin.get(app.issuer + path + "?v=x")
		got, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %d %q nosniff=%q", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Content-Type-Options"))
		}
		if path == "/branding/logo" && !bytes.Equal(got, logo) {
			t.Fatal("the logo served is not the one uploaded")
		}
		if path == "/branding.css" && (!strings.Contains(string(got), "--accent: #0b5d1e") || !strings.Contains(string(got), "prefers-color-scheme: dark")) {
			t.Fatalf("branding.css:\n%s", got)
		}
	}

	// Another instance keeps its own copy and reloads it from the
	// database every few seconds (brandingJobs).
	other := web.NewBrander()
	if err := other.Reload(ctx, app.db); err != nil || other.View().Name != "Acme ID" || other.View().CSSURL != app.srv.pages.Brand.View().CSSURL {
		t.Fatalf("another instance's reload: %v %+v", err, other.View())
	}
	// Removing the logo keeps the rest.
	resp = admin.postMultipart(app.adminURL+"/admin/branding", csrf, map[string]string{"product_name": "Acme ID", "accent": "#0b5d1e", "remove_logo": "on"}, nil)
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove logo: %d", resp.StatusCode)
	}
	if b, _ := app.db.LoadBranding(ctx); len(b.Logo) != 0 || len(b.Favicon) == 0 || b.ProductName != "Acme ID" {
		t.Fatalf("after removing the logo: %+v", b)
	}
	if resp := admin.get(app.issuer + "/branding/logo"); readBody(t, resp) == "" || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("removed logo still served: %d", resp.StatusCode)
	}
}
