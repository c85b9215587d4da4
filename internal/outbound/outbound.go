// Package outbound is the one HTTP client for requests the server makes to
// addresses that someone else chose, such as a client's back-channel
// logout URI (OIDC Back-Channel Logout 1.0). Every such request goes
// through Client, which enforces Policy twice: on the URL before the
// request (CheckURL) and on the resolved IP address when the connection is
// dialled (net.Dialer.Control), so a name that resolves to a public address
// at registration and to 127.0.0.1 later (DNS rebinding) is still refused.
//
// It imports only the standard library.
package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrRefused means the policy refuses the destination; errors.Is finds it
// in the error of Client.Do too.
var ErrRefused = errors.New("outbound: destination refused")

// AllowFlag names the operator's setting that opens private ranges, for
// messages.
const AllowFlag = "--outbound-allow"

// Private ranges: refused unless the operator lists them (Policy.Allow).
// RFC 1918, RFC 4193 (unique local IPv6) and RFC 6598 (carrier-grade NAT,
// 100.64.0.0/10, which clouds also use for internal services).
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// Ranges that are never a legitimate receiver and cannot be allowed
// (beyond what netip's predicates cover): "this network" 0.0.0.0/8
// (RFC 1122 §3.2.1.3, Linux dials 0.0.0.0 as loopback), IETF protocol
// assignments 192.0.0.0/24, benchmarking 198.18.0.0/15 (RFC 2544), the
// reserved 240.0.0.0/4, the IPv4-compatible IPv6 block ::/96 (RFC 4291
// §2.5.5.1, deprecated; ::7f00:1 would be 127.0.0.1), and two IPv6 forms
// that tunnel to an IPv4 address this check cannot vouch for: Teredo
// 2001::/32 (RFC 4380 §4; the client address is stored inverted, and a
// relay forwards wherever the packet says) and the local-use NAT64 prefix
// 64:ff9b:1::/48 (RFC 8215; its mapping is the operator's own), plus the
// deprecated 6to4 relay anycast 192.88.99.0/24 (RFC 7526).
var reservedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("192.88.99.0/24"),
}

// IPv6 forms that carry an IPv4 address a gateway may forward to: NAT64
// (RFC 6052, 64:ff9b::/96, the address in the last 32 bits) and 6to4
// (RFC 3056, 2002::/16, the address in bits 16–47). The embedded address
// is checked like a plain one.
var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixToF4 = netip.MustParsePrefix("2002::/16")
)

// Policy says where outbound requests may go. The zero value is the
// production policy: https only, public addresses only.
type Policy struct {
	// DevLoopback allows loopback addresses, and plain http to a loopback
	// host, for development; set it only when the issuer itself is on
	// loopback (NewPolicy does).
	DevLoopback bool
	// Allow lists private ranges the operator opened (--outbound-allow);
	// each lies inside a private range (ParseAllow checks).
	Allow []netip.Prefix
}

// NewPolicy returns the policy of a server whose public URL is issuer:
// DevLoopback when the issuer's host is loopback.
func NewPolicy(issuer string, allow []netip.Prefix) Policy {
	u, err := url.Parse(issuer)
	return Policy{DevLoopback: err == nil && isLoopbackHost(u.Hostname()), Allow: allow}
}

// ParseAllow parses --outbound-allow values. Only private ranges may be
// opened: loopback, link-local, multicast and the like stay refused
// whatever the operator lists, so that no setting exposes the server's own
// internal listener or the cloud metadata service.
func ParseAllow(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var probs []string
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s %q is not a CIDR such as 10.1.2.0/24", AllowFlag, s))
			continue
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked()
		inside := false
		for _, r := range privateRanges {
			inside = inside || (r.Bits() <= p.Bits() && r.Contains(p.Addr()))
		}
		if !inside {
			probs = append(probs, fmt.Sprintf("%s %s is not inside a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7); loopback, link-local and public ranges cannot be listed", AllowFlag, s))
			continue
		}
		out = append(out, p)
	}
	if len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "; "))
	}
	return out, nil
}

func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// CheckURL checks raw before any request: an absolute https URL (http
// only to a loopback host under DevLoopback), no credentials in it, and a
// host that is a DNS name or an address CheckAddr allows. A DNS name is
// checked again, by address, when it is dialled. The error wraps
// ErrRefused and says why in words an admin can act on.
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return refused("it is not an absolute URL")
	}
	host := u.Hostname()
	if u.User != nil {
		// RFC 3986 §3.2.1: credentials in a URI are deprecated; they would
		// be sent to, and logged by, whatever answers.
		return refused("it must not contain a user name or password")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.DevLoopback || !isLoopbackHost(host) {
			return refused("it must use https (plain http only to localhost while the issuer itself is on localhost)")
		}
	default:
		return refused("only https URLs are allowed, not " + u.Scheme + ":")
	}
	if host == "" {
		return refused("it has no host")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return refused("it must not have a fragment")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(a)
	}
	if isLoopbackHost(host) {
		if p.DevLoopback {
			return nil
		}
		return refused(host + " is loopback")
	}
	// A last label of digits or hex ("2130706433", "0x7f.1", "127.1") is no
	// DNS name (RFC 3696 §2: top-level domains are not all-numeric), but
	// some resolvers read it as an IPv4 address.
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := strings.ToLower(labels[len(labels)-1])
	if last == "" || strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return refused(fmt.Sprintf("%q is neither a DNS name nor a standard IP address", host))
	}
	return nil
}

// CheckAddr checks an IP address: loopback (unless DevLoopback),
// link-local (169.254.0.0/16 with the cloud metadata service, fe80::/10),
// unspecified, multicast, broadcast and reserved addresses are refused, in
// IPv4-mapped and embedded forms too; private ranges are refused unless
// listed in Allow.
func (p Policy) CheckAddr(a netip.Addr) error {
	a = a.Unmap().WithZone("")
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:16]))
	} else if sixToF4.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[2:6]))
	}
	switch {
	case !a.IsValid():
		return refused("no address")
	case a.IsLoopback():
		if p.DevLoopback {
			return nil
		}
		return refused(a.String() + " is loopback")
	case a.IsUnspecified():
		return refused(a.String() + " is the unspecified address")
	case a.IsLinkLocalUnicast():
		return refused(a.String() + " is link-local (this includes the cloud metadata service 169.254.169.254)")
	case a.IsMulticast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast():
		return refused(a.String() + " is multicast")
	case !a.IsGlobalUnicast():
		return refused(a.String() + " is not a unicast address")
	}
	for _, r := range reservedRanges {
		if r.Contains(a) {
			return refused(a.String() + " is in the reserved range " + r.String())
		}
	}
	for _, r := range privateRanges {
		if !r.Contains(a) {
			continue
		}
		for _, ok := range p.Allow {
			if ok.Contains(a) {
				return nil
			}
		}
		return refused(a.String() + " is in the private range " + r.String() + " (an operator can allow it with " + AllowFlag + ")")
	}
	return nil
}

// isLoopbackHost: "localhost" and names under it (RFC 6761 §6.3), or a
// loopback address.
func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

func refused(why string) error { return fmt.Errorf("%w: %s", ErrRefused, why) }

// controlDial is net.Dialer.Control: it sees the address about to be
// connected, after name resolution.
func (p Policy) controlDial(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return refused("unparsable address")
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return refused("unparsable address")
	}
	return p.CheckAddr(a)
}
