package idp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/oidc"
)

// testCA is a throw-away certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a leaf certificate (server or client) signed by the CA.
func (ca *testCA) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writePEM writes a certificate and its key as PEM files.
func writePEM(t *testing.T, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	kder, _ := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// runServer starts both real listeners (Server.Run) on loopback and returns
// their addresses; the server stops at the end of the test.
func runServer(t *testing.T, cfg Config) (*Server, string, string) {
	t.Helper()
	ctx := context.Background()
	db, sealer := openTestDB(t, dbtest.DSN(t), nil)
	cfg.Listen, cfg.InternalListen = freeAddr(t), freeAddr(t)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := New(ctx, cfg, db, sealer)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	ready, done := make(chan [2]string, 1), make(chan error, 1)
	go func() {
		done <- srv.Run(runCtx, func(pub, in net.Addr) { ready <- [2]string{pub.String(), in.String()} })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case a := <-ready:
		return srv, a[0], a[1]
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	return nil, "", ""
}

// tlsServer runs a server with an https issuer and a certificate from ca.
func tlsServer(t *testing.T, ca *testCA, mutate func(*Config)) (string, string) {
	certFile, keyFile := writePEM(t, ca.issue(t, "localhost", true))
	cfg := Config{Issuer: "https://localhost:8443", TLSCert: certFile, TLSKey: keyFile}
	if mutate != nil {
		mutate(&cfg)
	}
	_, pub, in := runServer(t, cfg)
	return pub, in
}

func TestTLSListeners(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	pub, in := tlsServer(t, ca, nil)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}
	cases := []struct {
		name    string
		cfg     *tls.Config
		wantErr bool
		wantVer uint16
	}{
		{"TLS 1.3 negotiated by default", &tls.Config{}, false, tls.VersionTLS13},
		{"TLS 1.2 with an AEAD suite", &tls.Config{MaxVersion: tls.VersionTLS12, //nolint:gosec // G402: a client capped at TLS 1.2 proves the server still accepts 1.2 with an AEAD suite
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, false, tls.VersionTLS12},
		{"TLS 1.1 refused", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, true, 0}, //nolint:gosec // G402: offers TLS 1.0-1.1 on purpose to prove the server refuses them
		{"TLS 1.0 refused", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, true, 0}, //nolint:gosec // G402: offers TLS 1.0 on purpose to prove the server refuses it
		{"CBC suites refused", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}, true, 0},         //nolint:gosec // G402: offers only TLS 1.2 CBC suites on purpose to prove the server refuses them
	}
	for _, addr := range []struct{ name, addr string }{{"public", pub}, {"internal", in}} {
		for _, tc := range cases {
			t.Run(addr.name+"/"+tc.name, func(t *testing.T) {
				cfg := tc.cfg.Clone()
				cfg.RootCAs, cfg.ServerName = roots, "localhost"
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr.addr, cfg)
				if tc.wantErr {
					if err == nil {
						st := conn.ConnectionState()
						_ = conn.Close() // the test fails on the next line either way
						t.Fatalf("handshake succeeded: version %x suite %s", st.Version, tls.CipherSuiteName(st.CipherSuite))
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = conn.Close() }() // only the negotiated version is checked
				if v := conn.ConnectionState().Version; v != tc.wantVer {
					t.Fatalf("version %x, want %x", v, tc.wantVer)
				}
			})
		}
	}
}

func TestInternalListenerMutualTLS(t *testing.T) {
	ca, clientCA, otherCA := newTestCA(t, "Server CA"), newTestCA(t, "Client CA"), newTestCA(t, "Other CA")
	caFile := filepath.Join(t.TempDir(), "clients.pem")
	if err := os.WriteFile(caFile, clientCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	pub, in := tlsServer(t, ca, func(c *Config) { c.InternalClientCA = caFile })
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	get := func(addr, path string, certs ...tls.Certificate) (int, error) {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: certs}}}
		resp, err := c.Get("https://" + addr + path)
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close() // only the status is checked
		return resp.StatusCode, nil
	}
	if st, err := get(in, "/healthz"); err == nil {
		t.Fatalf("internal listener answered %d without a client certificate", st)
	}
	if st, err := get(in, "/healthz", otherCA.issue(t, "intruder", false)); err == nil {
		t.Fatalf("internal listener answered %d to a certificate of another CA", st)
	}
	if st, err := get(in, "/healthz", clientCA.issue(t, "ops", false)); err != nil || st != http.StatusOK {
		t.Fatalf("valid client certificate: %d %v", st, err)
	}
	// The public listener does not ask for client certificates.
	if st, err := get(pub, "/.well-known/openid-configuration"); err != nil || st != http.StatusOK {
		t.Fatalf("public listener: %d %v", st, err)
	}
}

func TestConfigRefusesHTTPSWithoutTLS(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		wants []string // substrings of the problems; none means valid
	}{
		{"https issuer without certificate", Config{Issuer: "https://id.example.com"}, []string{"no certificate"}},
		{"behind proxy without ranges", Config{Issuer: "https://id.example.com", BehindTLSProxy: true}, []string{"--trusted-proxies"}},
		{"behind proxy with ranges", Config{Issuer: "https://id.example.com", BehindTLSProxy: true, TrustedProxies: []string{"10.0.0.0/8"}}, nil},
		{"with certificate", Config{Issuer: "https://id.example.com", TLSCert: "c.pem", TLSKey: "k.pem"}, nil},
		{"every problem at once", Config{Issuer: "https://id.example.com", TrustedProxies: []string{"10.0.0.0/33", "nope"},
			InternalClientCA: "ca.pem", RateLimits: RateLimits{Limits: map[string]RateLimit{"login": {}, "bogus": {Requests: 1, Window: time.Second}}}},
			[]string{"no certificate", `"10.0.0.0/33"`, `"nope"`, "--internal-client-ca needs", `group "bogus"`, "login=0/0s"}},
		{"key rotation too short", Config{Issuer: "http://localhost:8080", OIDC: oidc.Config{KeyRotation: time.Minute}}, []string{"key rotation must be at least 1h"}},
		{"plain http issuer is fine", Config{Issuer: "http://localhost:8080"}, nil},
		{"http issuer behind TLS proxy", Config{Issuer: "http://localhost:8080", BehindTLSProxy: true, TrustedProxies: []string{"127.0.0.1/32"}}, []string{"is http"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Defaults()
			probs := strings.Join(cfg.Validate(), "\n")
			if len(tc.wants) == 0 && probs != "" {
				t.Fatalf("unexpected problems:\n%s", probs)
			}
			for _, w := range tc.wants {
				if !strings.Contains(probs, w) {
					t.Errorf("problems lack %q:\n%s", w, probs)
				}
			}
		})
	}
	// New refuses too, and an unreadable certificate fails at start, not at
	// the first connection.
	_, err := New(context.Background(), Config{Issuer: "https://id.example.com"}, nil, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("New: %v, want a ConfigError", err)
	}
	db, sealer := openTestDB(t, dbtest.DSN(t), nil)
	_, err = New(context.Background(), Config{Issuer: "https://localhost:8443", Listen: "127.0.0.1:1", InternalListen: "127.0.0.1:2",
		TLSCert: "/nonexistent/cert.pem", TLSKey: "/nonexistent/key.pem"}, db, sealer)
	if err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Fatalf("New with a missing certificate file: %v", err)
	}
}
