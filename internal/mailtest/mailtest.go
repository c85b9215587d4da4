// Package mailtest runs Mailpit (github.com/axllent/mailpit), a real SMTP
// server with an HTTP API, for tests: Start binds it to free loopback
// ports, Messages and Wait read what arrived. Only tests import it.
//
// The binary is LATCHKEY_MAILPIT, else mailpit on PATH, else
// $(go env GOPATH)/bin/mailpit, else $(go env GOPATH)/mailpit-v1.33.1/mailpit,
// which the first test that needs it installs there with `go install
// github.com/axllent/mailpit@v1.33.1` (about 70 s, once per machine; .ci/run
// does the same), so `go test ./...` works on a fresh clone. A binary that
// cannot be installed fails the test with the reason: it never skips.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/loopback"
)

// Version is the Mailpit release the tests use.
const Version = "v1.33.1"

// Binary finds the Mailpit binary or explains how to install it.
func Binary() (string, error) {
	if p := os.Getenv("LATCHKEY_MAILPIT"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	p := filepath.Join(gopath, "bin", "mailpit")
	if _, err := os.Stat(p); err == nil { //nolint:gosec // G703: GOPATH/bin of the test environment, not attacker input
		return p, nil
	}
	return install(filepath.Join(gopath, "mailpit-"+Version))
}

// install puts Mailpit into dir with go install, once: test packages run
// in parallel processes, so a lock file makes the others wait for the
// first, and go install renames the finished binary into place.
func install(dir string) (string, error) {
	bin := filepath.Join(dir, "mailpit")
	if _, err := os.Stat(bin); err == nil { //nolint:gosec // G703: GOPATH of the test environment
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: a tool directory, like GOPATH/bin
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600) //nolint:gosec // G304: GOPATH of the test environment
	if err != nil {
		return "", err
	}
	defer func() { _ = lock.Close() }()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil { //nolint:gosec // G115: a file descriptor fits an int
		return "", err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }() //nolint:gosec // G115: as above
	if _, err := os.Stat(bin); err == nil {                               //nolint:gosec // G703: another test process installed it meanwhile
		return bin, nil
	}
	cmd := exec.Command("go", "install", "github.com/axllent/mailpit@"+Version) //nolint:gosec // G204: a fixed module and version
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mailpit not found (LATCHKEY_MAILPIT, PATH, GOPATH/bin) and `go install github.com/axllent/mailpit@%s` failed: %w\n%s", Version, err, out)
	}
	return bin, nil
}

// Server is one Mailpit process (restartable on the same ports).
type Server struct {
	tb       testing.TB
	bin      string
	SMTPAddr string // 127.0.0.1:PORT
	HTTPAddr string
	// args are the flags Start or StartTLS chose (TLS, authentication).
	args []string
	// tls is the Security of the TLS server (StartTLS), "" for plain SMTP.
	tls string
	// roots trusts the server's certificate (StartTLS only).
	roots  *x509.CertPool
	caFile string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    strings.Builder
	logMu  sync.Mutex
}

// Start runs Mailpit on two free loopback ports, accepting any SMTP
// credentials over plain SMTP (it is on loopback), until the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	addrs, err := loopback.FreeAddrs(2)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, bin: bin, SMTPAddr: addrs[0], HTTPAddr: addrs[1],
		args: []string{"--smtp-auth-accept-any", "--smtp-auth-allow-insecure"}}
	s.Restart()
	tb.Cleanup(s.Stop)
	return s
}

// StartTLS runs Mailpit with a certificate for 127.0.0.1 that only
// Roots trusts, accepting any credentials but only over TLS: with
// security "starttls" it requires STARTTLS (RFC 3207) before anything
// else, with "tls" it speaks TLS from the first byte (RFC 8314 §3.3).
func StartTLS(tb testing.TB, security string) *Server {
	tb.Helper()
	s := Start(tb)
	s.Stop()
	certFile, keyFile, roots := selfSigned(tb)
	s.args = []string{"--smtp-auth-accept-any", "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile}
	switch security {
	case "starttls":
		s.args = append(s.args, "--smtp-require-starttls")
	case "tls":
		s.args = append(s.args, "--smtp-require-tls")
	default:
		tb.Fatalf("mailtest.StartTLS: security %q is neither starttls nor tls", security)
	}
	s.tls, s.roots, s.caFile = security, roots, certFile
	s.Restart()
	return s
}

// Roots trusts the certificate of a StartTLS server (nil for Start's).
func (s *Server) Roots() *x509.CertPool { return s.roots }

// selfSigned writes an ECDSA certificate for 127.0.0.1 and localhost and
// its key into a temporary directory and returns their files and a pool
// that trusts it.
func selfSigned(tb testing.TB) (certFile, keyFile string, roots *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "mailtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// CAFile is the PEM file of the certificate that Roots trusts (for
// --smtp-ca-file).
func (s *Server) CAFile(tb testing.TB) string {
	tb.Helper()
	if s.roots == nil {
		tb.Fatal("mailtest: CAFile of a server without TLS")
	}
	return s.caFile
}

// URL is the --smtp-url that reaches this server with credentials:
// smtp://…?tls=off for Start's, smtp:// (STARTTLS) or smtps:// for
// StartTLS's.
func (s *Server) URL(user, pass string) string {
	switch s.tls {
	case "starttls":
		return fmt.Sprintf("smtp://%s:%s@%s", user, pass, s.SMTPAddr)
	case "tls":
		return fmt.Sprintf("smtps://%s:%s@%s", user, pass, s.SMTPAddr)
	}
	return fmt.Sprintf("smtp://%s:%s@%s?tls=off", user, pass, s.SMTPAddr)
}

func (s *Server) Write(p []byte) (int, error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.Write(p)
}

// Log is Mailpit's output so far.
func (s *Server) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Restart starts Mailpit again (after Stop) on the same ports, with an
// empty mailbox, and waits until its API answers.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.tb.Fatal("mailpit is running")
	}
	args := append([]string{"--smtp", s.SMTPAddr, "--listen", s.HTTPAddr, "--disable-version-check", "--quiet"}, s.args...)
	cmd := exec.Command(s.bin, args...) //nolint:gosec // the test's own binary, loopback ports and files

	cmd.Stdout, cmd.Stderr = s, s
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start mailpit %s: %v", s.bin, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.exited)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + s.HTTPAddr + "/api/v1/messages") //nolint:noctx // bounded by the deadline loop
		if err == nil {
			_ = resp.Body.Close()
			if c, err := net.DialTimeout("tcp", s.SMTPAddr, time.Second); err == nil {
				_ = c.Close()
				return
			}
		}
		select {
		case <-s.exited:
			s.tb.Fatalf("mailpit exited at start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("mailpit did not answer on %s within 15 s:\n%s", s.HTTPAddr, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends Mailpit (an SMTP outage); Restart brings it back.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Address is a sender or recipient as Mailpit reports it.
type Address struct{ Name, Address string }

// Summary is a message in Mailpit's list.
type Summary struct {
	ID      string
	From    Address
	To      []Address
	Subject string
}

// Message is one message with its parts.
type Message struct {
	ID      string
	From    Address
	To      []Address
	Subject string
	Text    string
	HTML    string
	// Inline are the parts the HTML refers to by Content-ID.
	Inline []Part
}

// Part is an attachment of a message as Mailpit reports it.
type Part struct {
	PartID, FileName, ContentType, ContentID string
	Size                                     int
}

// PartBytes reads the content of one part of a message.
func (s *Server) PartBytes(id, partID string) ([]byte, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + s.HTTPAddr + "/api/v1/message/" + id + "/part/" + partID)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mailpit part %s/%s: %s", id, partID, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func (s *Server) getJSON(path string, out any) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + s.HTTPAddr + path)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit %s: %s: %s", path, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// Messages lists what arrived, newest first.
func (s *Server) Messages() ([]Summary, error) {
	var out struct{ Messages []Summary }
	err := s.getJSON("/api/v1/messages?limit=500", &out)
	return out.Messages, err
}

// Message reads one message.
func (s *Server) Message(id string) (*Message, error) {
	var m Message
	return &m, s.getJSON("/api/v1/message/"+id, &m)
}

// Headers reads one message's headers.
func (s *Server) Headers(id string) (map[string][]string, error) {
	var h map[string][]string
	return h, s.getJSON("/api/v1/message/"+id+"/headers", &h)
}

// To returns the messages to addr, newest first.
func (s *Server) To(addr string) ([]*Message, error) {
	list, err := s.Messages()
	if err != nil {
		return nil, err
	}
	var out []*Message
	for _, sum := range list {
		for _, to := range sum.To {
			if strings.EqualFold(to.Address, addr) {
				m, err := s.Message(sum.ID)
				if err != nil {
					return nil, err
				}
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// ErrTimeout is Wait's failure: too few messages arrived.
var ErrTimeout = errors.New("mailpit: timed out waiting for messages")

// Wait polls until n messages to addr have arrived (within timeout) and
// returns them, newest first; it fails the test otherwise.
func (s *Server) Wait(tb testing.TB, addr string, n int, timeout time.Duration) []*Message {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs, err := s.To(addr)
		if err == nil && len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%v: %d of %d to %s after %s (last error: %v)\nmailpit log:\n%s", ErrTimeout, len(msgs), n, addr, timeout, err, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
