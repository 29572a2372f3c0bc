package cidr_test

import (
	"testing"

	"github.com/firebreak/firebreak/internal/cidr"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":          "10.0.0.0/8",
		" 10.1.2.3/8 ":        "10.0.0.0/8",
		"10.1.2.3":            "10.1.2.3/32",
		"2001:db8::1/32":      "2001:db8::/32",
		"2001:db8::1":         "2001:db8::1/128",
		"fe80::1%eth0":        "fe80::1/128",
		"::ffff:10.1.2.3":     "10.1.2.3/32",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"::ffff:10.1.2.3/128": "10.1.2.3/32",
		"::ffff:0.0.0.0/96":   "0.0.0.0/0",
		"::ffff:0:0/80":       "::/80",
	} {
		got, err := cidr.Parse(in)
		if err != nil || got.String() != want {
			t.Errorf("Parse(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/33", "10.0.0", "example.com", "10.0.0.0/8/8", "::ffff:10.0.0.0/129"} {
		if p, err := cidr.Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, p)
		}
	}
}
