package outbound_test

import (
	"net/netip"
	"testing"

	"github.com/firebreak/firebreak/actions/outbound"
)

// TestMappedCIDRsMeanTheIPv4Range: an allow or deny entry written as an
// IPv4-mapped IPv6 range (::ffff:127.0.0.0/104) is the IPv4 range, as it is
// for every other list of ranges; the policy compares unmapped addresses,
// so before the ranges were read one way a mapped deny entry refused
// nothing.
func TestMappedCIDRsMeanTheIPv4Range(t *testing.T) {
	p := policy(t, outbound.Config{AllowCIDRs: []string{"127.0.0.0/8"}, DenyCIDRs: []string{"::ffff:127.0.0.1/128"}})
	wantRefused(t, p.Check(netip.MustParseAddr("127.0.0.1"), outbound.Literal), "deny_cidrs")
	if err := p.Check(netip.MustParseAddr("127.0.0.2"), outbound.FromEvent); err != nil {
		t.Fatalf("127.0.0.2 is allow-listed and not denied: %v", err)
	}
	wide := policy(t, outbound.Config{AllowCIDRs: []string{"::ffff:169.254.169.254/128"}})
	if err := wide.Check(netip.MustParseAddr("169.254.169.254"), outbound.FromEvent); err != nil {
		t.Fatalf("allow-listed (mapped spelling) metadata address: %v", err)
	}
}
