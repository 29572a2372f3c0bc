package cidr

import (
	"net/netip"
	"strings"
)

// Parse reads "10.0.0.0/8", "2001:db8::/32" or a single address
// ("10.1.2.3", a one-address range). Surrounding space is ignored, the
// host bits are masked off, and a zone is dropped. An IPv4-mapped IPv6
// range of /96 or longer (::ffff:10.0.0.0/104) is the IPv4 range it maps
// (10.0.0.0/8), and a mapped address the IPv4 address, because every part
// compares ranges with unmapped addresses; a shorter mapped range stays
// IPv6.
func Parse(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.WithZone("").Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
