package web

import (
	"net/netip"

	"github.com/firebreak/firebreak/internal/cidr"
)

// Connection limits used when HTTPConfig leaves them zero.
const (
	DefaultMaxConnections      = 1024
	DefaultMaxConnectionsPerIP = 64
)

// HTTPConfig is the config file's http section: whom to believe about the
// client's address, and how many connections to hold.
type HTTPConfig struct {
	// TrustedProxies lists the peers (IP addresses or CIDRs) whose
	// X-Forwarded-For and X-Real-IP headers are believed. Empty believes
	// no one: the client's address is the TCP peer's.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxConnections bounds the open connections (default 1024).
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerIP bounds the open connections of one peer address
	// (an IPv6 peer: its /64); trusted proxies are exempt (default 64).
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
}

// trusted returns the parsed TrustedProxies; invalid entries (the
// configuration's validation reports them) are skipped.
func (c HTTPConfig) trusted() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.TrustedProxies {
		if pfx, err := ParseProxy(p); err == nil {
			out = append(out, pfx)
		}
	}
	return out
}

// ParseProxy reads a trusted_proxies entry: an address (a one-address
// prefix) or a CIDR.
func ParseProxy(s string) (netip.Prefix, error) { return cidr.Parse(s) }
