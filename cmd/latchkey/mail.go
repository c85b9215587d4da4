package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/idp"
	"github.com/latchkey-idp/latchkey/mail"
)

// mailFlags configure email delivery (invitations, notices).
type mailFlags struct {
	SMTPURL          string        `name:"smtp-url" help:"SMTP server for email: smtp://USER:PASSWORD@HOST:PORT (STARTTLS required, port 587 by default) or smtps://… (implicit TLS, port 465); smtp://HOST:PORT?tls=off only to a loopback relay. The password is never logged." env:"LATCHKEY_SMTP_URL" placeholder:"URL"`
	SMTPPasswordFile string        `name:"smtp-password-file" help:"File holding the SMTP password (instead of putting it in --smtp-url)." env:"LATCHKEY_SMTP_PASSWORD_FILE" placeholder:"FILE"`
	SMTPCAFile       string        `name:"smtp-ca-file" help:"PEM file of the CA certificates that verify the SMTP server's certificate (STARTTLS or smtps://), for a relay with a private CA; unset: the system's roots." env:"LATCHKEY_SMTP_CA_FILE" placeholder:"FILE"`
	SMTPRetry        time.Duration `name:"smtp-retry" help:"Wait before retrying a message that failed; it doubles after each failure up to 1h, and a message is given up (shown in the console) after 10 attempts." default:"30s" env:"LATCHKEY_SMTP_RETRY"`
	Recovery         string        `name:"recovery" help:"Self-service recovery: email (\"Lost your passkey?\" on the sign-in page emails a one-time link to add a passkey; needs --smtp-url) or off." default:"email" enum:"off,email" env:"LATCHKEY_RECOVERY"`
	Signup           string        `name:"signup" help:"Self-service sign-up: closed (only admins create accounts), invite (with a sign-up link: latchkey signup-links add) or open (for the addresses of --signup-domains). Every sign-up verifies its email address before the first passkey; needs --smtp-url. Unset: the policy set in the console (Sign-up), closed until then." env:"LATCHKEY_SIGNUP" placeholder:"closed|invite|open"`
	SignupDomains    []string      `name:"signup-domains" help:"Email domains that may sign up under --signup=open (comma-separated; exact domains, not their subdomains)." env:"LATCHKEY_SIGNUP_DOMAINS" sep:"," placeholder:"DOMAIN"`
	SMTPFrom         string        `name:"smtp-from" help:"Sender of email, e.g. 'Latchkey <noreply@example.com>' (required with --smtp-url)." env:"LATCHKEY_SMTP_FROM" placeholder:"ADDRESS"`
}

// apply sets cfg.Mail from the flags and returns their problems. Errors
// never quote the URL: it may hold the password.
func (f *mailFlags) apply(cfg *idp.Config) []string {
	cfg.Mail.From = f.SMTPFrom
	cfg.Recovery = f.Recovery
	cfg.Signup, cfg.SignupDomains = f.Signup, f.SignupDomains
	if f.SMTPRetry <= 0 || f.SMTPRetry > time.Hour {
		return []string{fmt.Sprintf("--smtp-retry must be from 1s to 1h, got %s", f.SMTPRetry)}
	}
	cfg.Mail.RetryBase = f.SMTPRetry
	if f.SMTPURL == "" {
		var probs []string
		if f.SMTPPasswordFile != "" {
			probs = append(probs, "--smtp-password-file needs --smtp-url")
		}
		if f.SMTPCAFile != "" {
			probs = append(probs, "--smtp-ca-file needs --smtp-url")
		}
		return probs
	}
	s, err := mail.ParseSMTPURL(f.SMTPURL)
	if err != nil {
		return []string{err.Error()}
	}
	if f.SMTPPasswordFile != "" {
		b, err := os.ReadFile(f.SMTPPasswordFile)
		if err != nil {
			return []string{fmt.Sprintf("--smtp-password-file: %v", err)}
		}
		s.SetPassword(strings.TrimRight(string(b), "\r\n"))
	}
	if f.SMTPCAFile != "" {
		if s.Security == mail.Plain {
			return []string{"--smtp-ca-file needs TLS: --smtp-url has ?tls=off"}
		}
		pem, err := os.ReadFile(f.SMTPCAFile)
		if err != nil {
			return []string{fmt.Sprintf("--smtp-ca-file: %v", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return []string{fmt.Sprintf("--smtp-ca-file %s holds no PEM certificate", f.SMTPCAFile)}
		}
		cfg.Mail.RootCAs = pool
	}
	cfg.Mail.SMTP = s
	return nil
}
