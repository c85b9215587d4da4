package outbound

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// TestCheckURL is the policy as a table: each URL of issue 20 and its
// neighbours, under the production policy and the development one (issuer
// on loopback).
func TestCheckURL(t *testing.T) {
	allow, err := ParseAllow([]string{"10.20.0.0/16", "fd00:1::/32"})
	if err != nil {
		t.Fatal(err)
	}
	prod := Policy{Allow: allow}
	dev := NewPolicy("http://localhost:8080", allow)
	if !dev.DevLoopback || NewPolicy("https://id.example.com", nil).DevLoopback || !NewPolicy("http://127.0.0.1:9", nil).DevLoopback {
		t.Fatal("NewPolicy does not derive DevLoopback from the issuer host")
	}
	for _, tc := range []struct {
		url       string
		prod, dev bool   // allowed?
		why       string // part of the production refusal
	}{
		{"https://rp.example.com/backchannel", true, true, ""},
		{"https://93.184.216.34/bc", true, true, ""},
		{"https://[2606:4700::1111]/bc", true, true, ""},
		{"http://rp.example.com/bc", false, false, "https"},
		{"http://169.254.169.254/", false, false, "https"},
		{"https://169.254.169.254/latest/meta-data/", false, false, "link-local"},
		{"https://[fe80::1]/", false, false, "link-local"},
		{"https://[fe80::1%25eth0]/", false, false, "link-local"},
		{"https://[::ffff:169.254.169.254]/", false, false, "link-local"},
		{"https://[64:ff9b::a9fe:a9fe]/", false, false, "link-local"},                                 // NAT64 of 169.254.169.254
		{"https://[2002:a9fe:a9fe::1]/", false, false, "link-local"},                                  // 6to4 of 169.254.169.254
		{"https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", false, false, "reserved range 2001::/32"}, // Teredo to 127.0.0.1
		{"https://[64:ff9b:1::a9fe:a9fe]/", false, false, "reserved range 64:ff9b:1::/48"},            // local-use NAT64
		{"https://192.88.99.1/", false, false, "reserved range 192.88.99.0/24"},
		{"http://[::1]:8081/api/v1/users", false, true, "https"},         // dev: loopback over http
		{"https://[::1]:8081/", false, true, "loopback"},                 //
		{"http://127.0.0.1:8081/api/v1/users", false, true, "https"},     // the internal admin API
		{"https://127.0.0.1:8081/api/v1/users", false, true, "loopback"}, //
		{"https://127.1.2.3/", false, true, "loopback"},
		{"https://[::ffff:127.0.0.1]/", false, true, "loopback"},
		{"https://[::7f00:1]/", false, false, "reserved"}, // IPv4-compatible 127.0.0.1
		{"http://localhost:9000/bc", false, true, "https"},
		{"https://localhost/bc", false, true, "loopback"},
		{"https://app.localhost/bc", false, true, "loopback"},
		{"http://0.0.0.0/", false, false, "https"},
		{"https://0.0.0.0/", false, false, "unspecified"},
		{"https://0.1.2.3/", false, false, "reserved"},
		{"https://[::]/", false, false, "unspecified"},
		{"https://[::ffff:0.0.0.0]/", false, false, "unspecified"},
		{"https://224.0.0.1/", false, false, "multicast"},
		{"https://[ff02::1]/", false, false, "multicast"},
		{"https://255.255.255.255/", false, false, "unicast"},
		{"https://10.0.0.5/", false, false, "private"},
		{"https://10.20.3.4/", true, true, ""}, // listed by the operator
		{"https://172.16.0.1/", false, false, "--outbound-allow"},
		{"https://192.168.1.1/", false, false, "private"},
		{"https://100.64.0.1/", false, false, "private"},
		{"https://[fd12::1]/", false, false, "private"},
		{"https://[fd00:1::5]/", true, true, ""}, // listed
		{"https://[::ffff:192.168.1.1]/", false, false, "private"},
		{"https://2130706433/", false, false, "neither"}, // 127.0.0.1 to some resolvers
		{"https://0x7f.1/", false, false, "neither"},
		{"https://127.1/", false, false, "neither"},
		{"gopher://rp.example.com:70/_POST", false, false, "gopher"},
		{"file:///etc/passwd", false, false, "file"},
		{"ftp://rp.example.com/", false, false, "ftp"},
		{"https://user:pass@rp.example.com/bc", false, false, "user name"},
		{"http://admin@127.0.0.1:8081/", false, false, "user name"},
		{"https://rp.example.com/bc#frag", false, false, "fragment"},
		{"/relative/path", false, false, "absolute"},
		{"https:///nohost", false, false, "host"},
		{"mailto:a@example.com", false, false, "absolute"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			err := prod.CheckURL(tc.url)
			if (err == nil) != tc.prod {
				t.Errorf("production policy: %v, want allowed=%v", err, tc.prod)
			}
			if err != nil && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.why)) {
				t.Errorf("production refusal %q should wrap ErrRefused and say %q", err, tc.why)
			}
			if err := dev.CheckURL(tc.url); (err == nil) != tc.dev {
				t.Errorf("development policy: %v, want allowed=%v", err, tc.dev)
			}
		})
	}
}

func TestParseAllow(t *testing.T) {
	if _, err := ParseAllow([]string{"10.0.0.0/8", "192.168.4.0/24", "100.64.1.0/24", "fd00::/8", "172.20.1.1"}); err != nil {
		t.Fatalf("private ranges refused: %v", err)
	}
	for _, bad := range []string{"127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/0", "::/0", "8.8.8.0/24", "10.0.0.0/7", "fe80::/10", "not-a-cidr"} {
		if _, err := ParseAllow([]string{bad}); err == nil || !strings.Contains(err.Error(), "--outbound-allow") {
			t.Errorf("ParseAllow(%q) = %v, want an error naming the flag", bad, err)
		}
	}
}

// TestClientRefusesAtDial: the client itself refuses what CheckURL
// refuses, and a redirect is returned, never followed.
func TestClientRefusesAtDial(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusFound)
	}))
	defer redirector.Close()

	prod := NewClient(Policy{}, Options{})
	for _, u := range []string{target.URL, "http://169.254.169.254/", "gopher://127.0.0.1:70/", "http://u:p@" + strings.TrimPrefix(target.URL, "http://")} {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		if _, err := prod.Do(req); !errors.Is(err, ErrRefused) {
			t.Errorf("production client sent to %s: %v", u, err)
		}
	}

	dev := NewClient(NewPolicy("http://localhost:8080", nil), Options{})
	req, _ := http.NewRequest(http.MethodPost, redirector.URL+"/bc", nil)
	resp, err := dev.Do(req)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("redirect answer = %+v, %v; want the 302 itself", resp, err)
	}
	if hits.Load() != 0 {
		t.Fatal("the client followed a redirect")
	}

	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	}))
	defer big.Close()
	req, _ = http.NewRequest(http.MethodGet, big.URL, nil)
	resp, err = NewClient(NewPolicy("http://127.0.0.1", nil), Options{MaxBody: 1000}).Do(req)
	if err != nil || len(resp.Body) != 1000 {
		t.Fatalf("bounded body: %v, %d bytes", err, len(resp.Body))
	}
}

// TestPlainHTTPClient: the client for CRLs and OCSP takes plain http, but
// refuses at dial time what the policy refuses, for a name that resolves
// to loopback and for a redirect too; it follows a few redirects only.
func TestPlainHTTPClient(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := r.URL.Query().Get("loop"); n != "" {
			http.Redirect(w, r, "/?loop=again", http.StatusFound)
			return
		}
		hits.Add(1)
		_, _ = w.Write([]byte("crl"))
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/root.crl", http.StatusFound)
	}))
	defer redirector.Close()
	_, port, _ := net.SplitHostPort(target.Listener.Addr().String())
	res := fakeDNS(t, map[string]netip.Addr{"crl.rebind.example.": netip.MustParseAddr("127.0.0.1")})

	prod := NewPlainHTTPClient(Policy{}, Options{Resolver: res})
	for _, u := range []string{target.URL + "/root.crl", "http://crl.rebind.example:" + port + "/root.crl", "http://169.254.169.254/", "http://10.0.0.1/x.crl"} {
		resp, err := prod.Get(u)
		if err == nil {
			_ = resp.Body.Close()
		}
		if !errors.Is(err, ErrRefused) {
			t.Errorf("production plain client fetched %s: %v", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatal("the production plain client reached loopback")
	}

	// Under a policy that allows loopback, the same client takes plain
	// http and follows a redirect; the refusals above are the policy's.
	dev := NewPlainHTTPClient(NewPolicy("http://localhost:8080", nil), Options{Resolver: res})
	resp, err := dev.Get(redirector.URL + "/x.crl")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Fatalf("development plain client: %d, hits %d", resp.StatusCode, hits.Load())
	}
	if resp, err := dev.Get(target.URL + "/?loop=1"); err == nil || !strings.Contains(err.Error(), "redirects") {
		if err == nil {
			_ = resp.Body.Close()
		}
		t.Fatalf("redirect loop: %v", err)
	}
}

// TestClientTimesOut: a receiver that never answers, or answers its
// headers and then trickles its body, holds a delivery no longer than the
// timeout (dial to last body byte), so one slow receiver cannot stall
// the back-channel logout job.
func TestClientTimesOut(t *testing.T) {
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}))
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		for range 100 {
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			select {
			case <-release:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	defer func() { close(release); silent.Close(); trickle.Close() }()
	c := NewClient(NewPolicy("http://127.0.0.1", nil), Options{Timeout: 300 * time.Millisecond})
	for name, u := range map[string]string{"silent": silent.URL, "trickling": trickle.URL} {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		start := time.Now()
		_, err := c.Do(req)
		if took := time.Since(start); err == nil || took > 3*time.Second {
			t.Errorf("%s receiver: %v after %s, want an error within about 300 ms", name, err, took)
		}
	}
}

// TestDNSRebinding: a name that passes the URL check (a public DNS name)
// but resolves to 127.0.0.1 when dialled is refused by the dial-time
// check. The resolver is Go's own, asking a DNS server of the test.
func TestDNSRebinding(t *testing.T) {
	var hits atomic.Int32
	rp := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer rp.Close()
	_, port, _ := net.SplitHostPort(rp.Listener.Addr().String())
	res := fakeDNS(t, map[string]netip.Addr{
		"rp.rebind.example.": netip.MustParseAddr("127.0.0.1"),
		"meta.example.":      netip.MustParseAddr("169.254.169.254"),
	})
	u := "https://rp.rebind.example:" + port + "/bc"
	if err := (Policy{}).CheckURL(u); err != nil {
		t.Fatalf("the public-looking name is refused before resolution: %v", err)
	}
	tlsCfg := rp.Client().Transport.(*http.Transport).TLSClientConfig

	c := NewClient(Policy{}, Options{Resolver: res, TLS: tlsCfg})
	for _, u := range []string{u, "https://meta.example/latest/meta-data/"} {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		_, err := c.Do(req)
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("dial of %s = %v, want ErrRefused", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatal("the rebinding name reached the loopback server")
	}

	// The same name and resolver under the development policy connect:
	// the resolver works, so the refusal above is the policy's.
	tlsCfg = tlsCfg.Clone()
	tlsCfg.ServerName = "example.com" // httptest's certificate
	dev := NewClient(NewPolicy("http://localhost:8080", nil), Options{Resolver: res, TLS: tlsCfg})
	req, _ := http.NewRequest(http.MethodPost, u, nil)
	if resp, err := dev.Do(req); err != nil || resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Fatalf("development client: %+v, %v, hits %d", resp, err, hits.Load())
	}
}

// fakeDNS serves A records for names over UDP on loopback and returns a
// pure-Go resolver that asks it.
func fakeDNS(t *testing.T, names map[string]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if a, ok := names[q.Name.String()]; ok && q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0},
					dnsmessage.AResource{A: a.As4()})
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}
