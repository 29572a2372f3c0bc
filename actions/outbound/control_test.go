package outbound

import (
	"errors"
	"testing"
)

// TestControlRechecksTheSocketAddress: the dialer's Control hook, the last
// check before connect, refuses on its own what DialContext would.
func TestControlRechecksTheSocketAddress(t *testing.T) {
	p := Default()
	for _, tc := range []struct {
		addr  string
		trust Trust
		ok    bool
	}{
		{"169.254.169.254:80", Literal, false},
		{"[fe80::1%eth0]:80", Literal, false},
		{"127.0.0.1:9095", FromEvent, false},
		{"127.0.0.1:9095", Literal, true},
		{"not-an-address:80", Literal, false},
	} {
		err := p.control(tc.trust)("tcp", tc.addr, nil)
		if (err == nil) != tc.ok {
			t.Errorf("control(%s, %s) = %v, want ok=%v", tc.addr, tc.trust, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrDestinationRefused) {
			t.Errorf("control(%s): %v is not a refusal", tc.addr, err)
		}
		var re *RefusedError
		if tc.addr != "not-an-address:80" && err != nil && !errors.As(err, &re) {
			t.Errorf("control(%s): %v names no rule", tc.addr, err)
		}
	}
}
