package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// clientLauncher reads a client's launcher fields and logo.
func clientLauncher(t *testing.T, dir, id string) (*models.Client, []byte) {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	c, err := db.ClientByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	logo, _, _ := db.ClientLogo(ctx, id)
	return c, logo
}

// clients add and update set --launch-url and --logo-url; the logo is
// fetched once (from a loopback server: the CLI's issuer is on loopback)
// and stored; bad values are refused with the flag's name and change
// nothing; "" clears.
func TestCLIClientsLauncher(t *testing.T) {
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	var logo bytes.Buffer
	if err := png.Encode(&logo, img); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/logo.png" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("no"))
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(logo.Bytes())
	}))
	t.Cleanup(srv.Close)
	logoURL := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/logo.png"

	add := func(args ...string) (int, string, string) {
		return cliRun(t, dir, append([]string{"clients", "add", "--name", "Wiki", "--redirect-uri", "https://wiki.example/cb", "--json"}, args...)...)
	}
	for _, bad := range [][]string{
		{"--launch-url", "http://wiki.example/"},
		{"--launch-url", "https://user:pw@wiki.example/"},
		{"--launch-url", "https://wiki.example/" + strings.Repeat("a", 2100)},
		{"--logo-url", srv.URL + "/page.txt"},
		{"--logo-url", "https://wiki.example/a\nb"},
	} {
		if code, out, errOut := add(bad...); code == 0 || out != "" || !strings.Contains(errOut, bad[0]) {
			t.Errorf("clients add %v: %d %q %q", bad, code, out, errOut)
		}
	}
	code, out, errOut := add("--launch-url", "https://wiki.example/", "--logo-url", logoURL)
	var r struct {
		ClientID  string `json:"client_id"`
		LaunchURL string `json:"launch_url"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.LaunchURL != "https://wiki.example/" {
		t.Fatalf("clients add: %d %q %q", code, out, errOut)
	}
	if c, got := clientLauncher(t, dir, r.ClientID); c.LogoURL != logoURL || !bytes.Equal(got, logo.Bytes()) || c.LogoType != "image/png" {
		t.Fatalf("after add: %+v, %d logo bytes", c, len(got))
	}
	if code, _, errOut = cliRun(t, dir, "clients", "update", r.ClientID, "--launch-url", "ftp://x.example/"); code == 0 || !strings.Contains(errOut, "--launch-url") {
		t.Fatalf("bad update: %d %q", code, errOut)
	}
	if code, out, errOut = cliRun(t, dir, "clients", "update", r.ClientID, "--launch-url", "https://wiki.example/home", "--logo-url", ""); code != 0 || !strings.Contains(out, "launch_url, logo_url") {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	if c, got := clientLauncher(t, dir, r.ClientID); c.LaunchURL != "https://wiki.example/home" || c.LogoURL != "" || got != nil {
		t.Fatalf("after update: %+v, %d logo bytes", c, len(got))
	}
}
