package models

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckLaunchURL(t *testing.T) {
	for _, ok := range []string{"", "https://wiki.example/", "https://wiki.example:8443/a?b=c#d", "http://localhost:3000/", "http://127.0.0.1/x",
		"http://app.localhost/", "http://[::1]:8080/", "https://10.1.2.3/intranet"} {
		if err := CheckLaunchURL(ok); err != nil {
			t.Errorf("CheckLaunchURL(%q) = %v", ok, err)
		}
	}
	for bad, why := range map[string]string{
		"http://wiki.example/":      "https",
		"https://u:p@wiki.example/": "user name or password",
		"https://u@wiki.example/":   "user name or password",
		"javascript:alert(1)":       "absolute",
		"data:text/html,x":          "absolute",
		"/relative":                 "absolute",
		"https://":                  "absolute",
		"https://wiki.example/\nX":  "line break",
		"https://wiki.example/ x":   "space",
		"ftp://wiki.example/":       "https",
		"https://wiki.example/" + strings.Repeat("a", MaxLauncherURL): "longer",
	} {
		err := CheckLaunchURL(bad)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), why) {
			t.Errorf("CheckLaunchURL(%q) = %v, want %q", bad, err, why)
		}
		if err := CheckLogoURL(bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "logo URL") {
			t.Errorf("CheckLogoURL(%q) = %v", bad, err)
		}
	}
}

// TestLauncherApps: clients with a launch URL, by name, for the user's
// groups (none restricts nothing); the logo is stored and removed apart
// from the client's other fields.
func TestLauncherApps(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	mk := func(name, launch string, groups ...string) *Client {
		c := &Client{Name: name, RedirectURIs: StringList{"https://x.example/cb"}, LaunchURL: launch, AllowedGroups: groups}
		if _, err := db.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	b := mk("B wiki", "https://wiki.example/")
	mk("A hr", "https://hr.example/", "hr")
	c := mk("C staff", "https://staff.example/", "staff", "ops")
	mk("D api", "")
	apps, err := db.LauncherApps(ctx, []string{"staff"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "B wiki,C staff" {
		t.Fatalf("launcher = %v", names)
	}
	if apps[0].HasLogo {
		t.Fatal("a logo without one stored")
	}
	if err := db.SetClientLogo(ctx, b.ID, []byte("png"), "image/png"); err != nil {
		t.Fatal(err)
	}
	// Saving the client keeps the logo (LogoType is not written by SaveClient).
	got, _ := db.ClientByID(ctx, b.ID)
	got.LogoType = ""
	got.Name = "B wiki 2"
	if err := db.SaveClient(ctx, got); err != nil {
		t.Fatal(err)
	}
	if logo, typ, err := db.ClientLogo(ctx, b.ID); err != nil || string(logo) != "png" || typ != "image/png" {
		t.Fatalf("logo after save: %q %q %v", logo, typ, err)
	}
	if _, _, err := db.ClientLogo(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no logo: %v", err)
	}
	if err := db.SetClientLogo(ctx, b.ID, nil, "image/png"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ClientLogo(ctx, b.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed logo: %v", err)
	}
	if err := db.SetClientLogo(ctx, "nope", []byte("x"), "image/png"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
}

// TestEmailChange: a link works once (one of two concurrent uses wins),
// expires, and is replaced by a newer request; a bad address records
// nothing; only the hash is stored.
func TestEmailChange(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	u := &User{Username: "eve", Email: "eve@example.com"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "nope", "a@b\r\nBcc: x@y", "Eve <e@x.example>"} {
		if _, _, err := db.CreateEmailChange(ctx, u.ID, bad, time.Hour); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateEmailChange(%q) = %v", bad, err)
		}
	}
	raw, ec, err := db.CreateEmailChange(ctx, u.ID, "eve@new.example", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if string(ec.TokenHash) != string(HashToken(raw)) {
		t.Fatal("the token is not stored hashed")
	}
	if _, err := db.PendingEmailChange(ctx, raw); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, _, errs[i] = db.ConfirmEmailChange(ctx, raw) }()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if !errors.Is(err, ErrUsed) && !Unavailable(err) && !errors.Is(err, ErrConflict) {
			t.Errorf("a losing use: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d uses won", won)
	}
	got, _ := db.UserByID(ctx, u.ID)
	if got.Email != "eve@new.example" || !got.EmailVerified {
		t.Fatalf("after: %+v", got)
	}
	if _, _, err := db.ConfirmEmailChange(ctx, raw); !errors.Is(err, ErrUsed) {
		t.Fatalf("reuse: %v", err)
	}
	old, _, _ := db.CreateEmailChange(ctx, u.ID, "one@new.example", time.Hour)
	newer, _, _ := db.CreateEmailChange(ctx, u.ID, "two@new.example", time.Hour)
	if _, _, err := db.ConfirmEmailChange(ctx, old); !errors.Is(err, ErrExpired) {
		t.Fatalf("replaced link: %v", err)
	}
	// A disabled account's link changes nothing (and stays unused).
	if err := db.SetUserDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ConfirmEmailChange(ctx, newer); !errors.Is(err, ErrUserDisabled) {
		t.Fatalf("link of a disabled account: %v", err)
	}
	if _, err := db.PendingEmailChange(ctx, newer); err != nil {
		t.Fatalf("the refused link was spent: %v", err)
	}
	if err := db.SetUserDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if _, _, err := db.ConfirmEmailChange(ctx, newer); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired link: %v", err)
	}
	if _, _, err := db.ConfirmEmailChange(ctx, "unknown"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown link: %v", err)
	}
	if got, _ := db.UserByID(ctx, u.ID); got.Email != "eve@new.example" {
		t.Fatalf("refused links changed the address to %q", got.Email)
	}
}
