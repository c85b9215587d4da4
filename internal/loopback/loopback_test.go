package loopback

import (
	"net"
	"strings"
	"testing"
)

func TestFreeAddrsAreDistinctAndBindable(t *testing.T) {
	addrs, err := FreeAddrs(8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] || !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("address %q repeated or not loopback in %v", a, addrs)
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("free address %s cannot be bound: %v", a, err)
		}
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListenNamesLocalhost(t *testing.T) {
	ln, u, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if u != "http://localhost:"+port {
		t.Fatalf("URL %q, want http://localhost:%s", u, port)
	}
}
