package mail

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Security of the connection to the SMTP server.
const (
	// STARTTLS (smtp://): the session must upgrade with STARTTLS (RFC
	// 3207) before credentials or messages are sent; a server that does
	// not offer it is refused.
	STARTTLS = "starttls"
	// ImplicitTLS (smtps://): TLS from the first byte (RFC 8314 §3.3).
	ImplicitTLS = "tls"
	// Plain (smtp://…?tls=off): no TLS at all. Allowed only to a loopback
	// host (a relay on the same machine, or a test server), because
	// credentials and one-time links would otherwise cross a network in
	// clear.
	Plain = "off"
)

// SMTP is a parsed --smtp-url. The password is never printed: String and
// LogValue redact it.
type SMTP struct {
	Host     string
	Port     int
	Security string // STARTTLS, ImplicitTLS or Plain
	Username string
	password string
}

// Password returns the SMTP password ("" for none).
func (s *SMTP) Password() string { return s.password }

// String is the URL with the password replaced by "xxxxx" (url.URL.Redacted).
func (s *SMTP) String() string {
	scheme := "smtp"
	if s.Security == ImplicitTLS {
		scheme = "smtps"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port))}
	if s.Username != "" {
		u.User = url.UserPassword(s.Username, "xxxxx")
		if s.password == "" {
			u.User = url.User(s.Username)
		}
	}
	if s.Security == Plain {
		u.RawQuery = "tls=off"
	}
	return u.Redacted()
}

// LogValue logs the redacted URL.
func (s *SMTP) LogValue() slog.Value { return slog.StringValue(s.String()) }

// ParseSMTPURL parses smtp://[user[:password]@]host[:port] (STARTTLS
// required, port 587 by default), smtps://… (implicit TLS, port 465), or
// smtp://…?tls=off (no TLS, loopback hosts only). Errors never contain
// the password.
func ParseSMTPURL(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the whole URL, password included.
		return nil, errors.New("--smtp-url is not a URL (smtp://user:password@host:port or smtps://…)")
	}
	s := &SMTP{Host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		s.Security, s.Port = STARTTLS, 587
	case "smtps":
		s.Security, s.Port = ImplicitTLS, 465
	default:
		return nil, fmt.Errorf("--smtp-url scheme %q: use smtp:// (STARTTLS) or smtps:// (implicit TLS)", u.Scheme)
	}
	if s.Host == "" {
		return nil, errors.New("--smtp-url has no host")
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" {
		return nil, errors.New("--smtp-url must not have a path or fragment")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("--smtp-url port %q is not 1 to 65535", p)
		}
		s.Port = n
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.password, _ = u.User.Password()
	}
	for k, v := range u.Query() {
		switch {
		case k == "tls" && len(v) == 1 && v[0] == Plain && s.Security == STARTTLS:
			if !isLoopback(s.Host) {
				return nil, fmt.Errorf("--smtp-url ?tls=off is allowed only to a loopback host (localhost, 127.0.0.0/8, ::1), not %q: "+
					"use smtp:// with STARTTLS or smtps://", s.Host)
			}
			s.Security = Plain
		default:
			return nil, fmt.Errorf("--smtp-url: unknown parameter %q (only tls=off with smtp://)", k)
		}
	}
	return s, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SetPassword sets the password (from --smtp-password-file).
func (s *SMTP) SetPassword(p string) { s.password = p }
