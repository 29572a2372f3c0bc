package outbound

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/firebreak/firebreak/internal/cidr"
)

// Trust says where a destination's host came from, and so how far the
// policy trusts it.
type Trust int

// Trust levels.
const (
	// Literal is a host the playbook author or the operator wrote: it may
	// be loopback or private.
	Literal Trust = iota
	// FromEvent is a host rendered from a template, that is from event data.
	FromEvent
	// FromRedirect is a host named by a redirect's Location.
	FromRedirect
)

func (t Trust) from() string {
	switch t {
	case FromEvent:
		return "taken from event data"
	case FromRedirect:
		return "taken from a redirect"
	}
	return "written in the playbook or config"
}

// String returns literal, event or redirect.
func (t Trust) String() string {
	switch t {
	case FromEvent:
		return "event"
	case FromRedirect:
		return "redirect"
	}
	return "literal"
}

// Resolver resolves host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Policy. The zero value is the default policy.
type Config struct {
	// AllowCIDRs are ranges the policy allows whatever the trust (a bare
	// address is a /32 or /128): actions.http.allow_cidrs.
	AllowCIDRs []string
	// DenyCIDRs are ranges always refused, even when allow-listed or
	// written literally: actions.http.deny_cidrs.
	DenyCIDRs []string
	// Resolver resolves host names; nil is net.DefaultResolver.
	Resolver Resolver
	// InterfaceAddrs lists this host's own addresses; nil reads the
	// interfaces at each untrusted dial.
	InterfaceAddrs func() ([]netip.Addr, error)
	// Dial connects to an address the policy has already allowed ("ip:port");
	// nil is a net.Dialer that checks the address once more just before
	// connect. Tests inject one to prove a refused address is never dialled.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// DialTimeout bounds a connect (30s when zero); the request's context
	// bounds it too.
	DialTimeout time.Duration
	// MaxRedirects bounds the hops Client.Do follows when asked to (10 when zero).
	MaxRedirects int
}

// Policy decides which addresses actions may connect to. It is safe for
// concurrent use.
type Policy struct {
	allow, deny  []netip.Prefix
	resolver     Resolver
	ifaceAddrs   func() ([]netip.Addr, error)
	dial         func(ctx context.Context, network, address string) (net.Conn, error)
	dialTimeout  time.Duration
	maxRedirects int
}

// New returns the policy for cfg, or an error naming each bad CIDR.
func New(cfg Config) (*Policy, error) {
	p := &Policy{
		resolver:     cfg.Resolver,
		ifaceAddrs:   cfg.InterfaceAddrs,
		dial:         cfg.Dial,
		dialTimeout:  cfg.DialTimeout,
		maxRedirects: cfg.MaxRedirects,
	}
	var err error
	if p.allow, err = parseCIDRs("allow_cidrs", cfg.AllowCIDRs); err != nil {
		return nil, err
	}
	if p.deny, err = parseCIDRs("deny_cidrs", cfg.DenyCIDRs); err != nil {
		return nil, err
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	if p.ifaceAddrs == nil {
		p.ifaceAddrs = interfaceAddrs
	}
	if p.dialTimeout <= 0 {
		p.dialTimeout = 30 * time.Second
	}
	if p.maxRedirects <= 0 {
		p.maxRedirects = 10
	}
	return p, nil
}

// Default returns the default policy (no allow or deny list).
func Default() *Policy {
	p, _ := New(Config{})
	return p
}

func parseCIDRs(key string, in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range in {
		pf, err := cidr.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not a CIDR or an address", key, i, strings.TrimSpace(s))
		}
		out = append(out, pf)
	}
	return out, nil
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.MustParseAddr("255.255.255.255")
	sharedCGNAT = netip.MustParsePrefix("100.64.0.0/10")
	siteLocal6  = netip.MustParsePrefix("fec0::/10")
)

// Check returns nil when the policy allows connecting to addr for a host
// of the given trust, else a *RefusedError (with Host unset).
func (p *Policy) Check(addr netip.Addr, t Trust) error {
	if why := p.refusal(addr, t); why != "" {
		return &RefusedError{Addr: addr, Why: why, Trust: t}
	}
	return nil
}

// refusal names the rule refusing a, or "" when a is allowed.
func (p *Policy) refusal(addr netip.Addr, t Trust) string {
	a := addr.WithZone("").Unmap()
	if !a.IsValid() {
		return "not an address"
	}
	for _, pf := range p.deny {
		if pf.Contains(a) {
			return "denied by actions.http.deny_cidrs"
		}
	}
	for _, pf := range p.allow {
		if pf.Contains(a) {
			return ""
		}
	}
	switch {
	case a.IsUnspecified() || thisNetwork.Contains(a):
		return "unspecified"
	case a == broadcast:
		return "broadcast"
	case a.IsLinkLocalUnicast():
		return "link-local (cloud metadata lives here)"
	case a.IsMulticast():
		return "multicast"
	}
	if t == Literal {
		return ""
	}
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate() || siteLocal6.Contains(a):
		return "a private address"
	case sharedCGNAT.Contains(a):
		return "shared address space (100.64.0.0/10)"
	}
	own, err := p.ifaceAddrs()
	if err != nil {
		return "not checkable against this host's own addresses (" + err.Error() + ")"
	}
	for _, o := range own {
		if o.WithZone("").Unmap() == a {
			return "one of this host's own addresses"
		}
	}
	return ""
}

func interfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list interface addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if na, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, na.Unmap())
		}
	}
	return out, nil
}

// DialContext returns a dial function for hosts of trust t: it resolves
// the host itself, checks every address and connects only to allowed
// ones, so what is checked is what is dialled.
func (p *Policy) DialContext(t Trust) func(ctx context.Context, network, address string) (net.Conn, error) {
	dial := p.dial
	if dial == nil {
		d := &net.Dialer{Timeout: p.dialTimeout, KeepAlive: 30 * time.Second, Control: p.control(t)}
		dial = d.DialContext
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", address, err)
		}
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{a}
		} else {
			addrs, err = p.resolver.LookupNetIP(ctx, ipNetwork(network), host)
			if err != nil {
				return nil, fmt.Errorf("resolve %s: %w", host, err)
			}
		}
		var refused, last error
		for _, a := range addrs {
			if why := p.refusal(a, t); why != "" {
				if refused == nil {
					refused = &RefusedError{Host: host, Addr: a, Why: why, Trust: t}
				}
				continue
			}
			conn, err := dial(ctx, network, net.JoinHostPort(a.WithZone("").Unmap().String(), port))
			if err == nil {
				return conn, nil
			}
			last = err
		}
		switch {
		case last != nil:
			return nil, last
		case refused != nil:
			return nil, refused
		}
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
}

// control checks the address the socket is about to connect to: the last
// line of defence should anything hand the dialer a name.
func (p *Policy) control(t Trust) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: cannot check %q", ErrDestinationRefused, address)
		}
		if why := p.refusal(ap.Addr(), t); why != "" {
			return &RefusedError{Host: ap.Addr().String(), Addr: ap.Addr(), Why: why, Trust: t}
		}
		return nil
	}
}

func ipNetwork(network string) string {
	switch network {
	case "tcp4", "udp4":
		return "ip4"
	case "tcp6", "udp6":
		return "ip6"
	}
	return "ip"
}
