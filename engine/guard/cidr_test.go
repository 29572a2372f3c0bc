package guard_test

import (
	"testing"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/guard"
)

// TestProtectedMappedCIDRs: a protected range written as an IPv4-mapped
// IPv6 range (::ffff:10.0.0.0/104) protects the IPv4 range, as the
// firewall's allowlist already read it; before, the guard kept it IPv6 and
// protected no IPv4 address.
func TestProtectedMappedCIDRs(t *testing.T) {
	h := newHarness(t, guard.Config{ProtectedCIDRs: []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.7"}}, protectedPlaybook)
	for _, tc := range []struct {
		name, ip string
		want     engine.Reason
	}{
		{"an address in the mapped range", "10.1.2.3", guard.ReasonProtected},
		{"the mapped single address", "192.0.2.7", guard.ReasonProtected},
		{"an address outside", "198.51.100.1", ""},
		// Event data chooses the target: a range covering a protected
		// address, spelled IPv4-mapped, is still that range.
		{"a mapped range covering a protected address", "::ffff:192.0.2.0/120", guard.ReasonProtected},
		{"a mapped range covering none", "::ffff:198.51.100.0/120", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, tc.name, h.check(h.plan("block", engine.PhaseSteps, 0, ev("e", "x/y", "ip="+tc.ip), false)), tc.want)
		})
	}
}
