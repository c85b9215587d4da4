package outbound

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultTimeout = 5 * time.Second
	DefaultMaxBody = 64 << 10
)

// Options tune a Client; the zero value is the default.
type Options struct {
	Timeout time.Duration // whole request, dial to last body byte (DefaultTimeout)
	MaxBody int64         // bytes of the response body read; the rest is dropped (DefaultMaxBody)
	// TLS, when set, is the TLS configuration (tests trust their own CA);
	// nil is the system roots.
	TLS *tls.Config
	// Resolver, when set, resolves names (tests); nil is net.DefaultResolver.
	Resolver *net.Resolver
}

// Client sends outbound requests under a Policy. It follows no redirects
// (a redirect answer is returned as it is), uses no proxy from the
// environment (a proxy would dial for us, past the address check), and
// reads at most Options.MaxBody bytes of a response.
type Client struct {
	policy  Policy
	http    *http.Client
	maxBody int64
}

// Response is what a request returned: status, headers and the first
// MaxBody bytes of the body.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// NewClient returns a client enforcing p.
func NewClient(p Policy, o Options) *Client {
	o = o.withDefaults()
	return &Client{policy: p, maxBody: o.MaxBody, http: &http.Client{
		Transport: transport(p, o),
		Timeout:   o.Timeout,
		// A redirect could lead anywhere the URL check did not see; the
		// receivers we call answer directly (Back-Channel Logout §2.8).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// MaxPlainRedirects is how many redirects a NewPlainHTTPClient follows.
const MaxPlainRedirects = 3

// NewPlainHTTPClient returns an *http.Client for fetches that are plain
// http by design and whose answers are signed, such as certificate
// revocation lists (RFC 5280 §4.2.1.13: CRL distribution points are
// usually http URLs) and OCSP (RFC 6960 appendix A.1), for libraries that
// take an *http.Client. It does not apply CheckURL (http is allowed), but
// every connection, those of redirects included, is checked against p when
// it is dialled (CheckAddr on the address really dialled), with no proxy
// from the environment; it follows at most MaxPlainRedirects redirects.
// Options.MaxBody does not apply: the library reads the body.
func NewPlainHTTPClient(p Policy, o Options) *http.Client {
	o = o.withDefaults()
	return &http.Client{Transport: transport(p, o), Timeout: o.Timeout,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) > MaxPlainRedirects {
				return fmt.Errorf("stopped after %d redirects", MaxPlainRedirects)
			}
			return nil
		}}
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	return o
}

// transport dials only what p allows.
func transport(p Policy, o Options) *http.Transport {
	d := &net.Dialer{
		Timeout:  o.Timeout,
		Resolver: o.Resolver,
		// Control runs for every address a name resolves to, just before
		// connect(2): the check applies to what is really dialled.
		Control: func(_, address string, _ syscall.RawConn) error {
			return p.controlDial(address)
		},
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        o.TLS,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
	}
}

// Policy returns the client's policy.
func (c *Client) Policy() Policy { return c.policy }

// Do checks req's URL, sends it and reads a bounded body. An error wraps
// ErrRefused when the policy refused the URL or the dialled address; any
// other error is the transport's. Callers that show the outcome to
// someone should not show the error (it tells an open port from a closed
// one): see the package doc of the caller.
func (c *Client) Do(req *http.Request) (*Response, error) {
	if err := c.policy.CheckURL(req.URL.String()); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// CloseIdle closes idle kept-alive connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }
