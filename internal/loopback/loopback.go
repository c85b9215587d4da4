// Package loopback hands out loopback addresses for the servers that tests
// and the load tool (cmd/latchkey-bench) start: the one place that picks
// ports. It imports the standard library only.
package loopback

import (
	"fmt"
	"net"
)

// FreeAddrs returns n distinct free 127.0.0.1:PORT addresses for listeners
// that someone else binds (a child process, Server.Run). All n are held
// open until every one is known, so they cannot repeat; another process
// may still take one before it is bound, which the binder reports.
func FreeAddrs(n int) ([]string, error) {
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("no free loopback port: %w", err)
		}
		defer func() { _ = ln.Close() }() // held until every port is known
		addrs[i] = ln.Addr().String()
	}
	return addrs, nil
}

// Listen binds a free loopback port and returns the listener with its URL
// as http://localhost:PORT: WebAuthn refuses IP addresses as RP IDs, so a
// server that runs passkey ceremonies is reached by name.
func Listen() (net.Listener, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("no free loopback port: %w", err)
	}
	return ln, fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port), nil
}
