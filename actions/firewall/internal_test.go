package firewall

import (
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/internal/cidr"
)

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour:               "1h",
		90 * time.Minute:        "1h30m",
		24 * time.Hour:          "24h",
		2 * time.Second:         "2s",
		90 * time.Second:        "1m30s",
		10 * time.Minute:        "10m",
		time.Hour + time.Second: "1h0m1s",
		1500 * time.Millisecond: "1.5s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCommentCutsOnRuneBoundary(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	got := comment(long)
	if len(got) > maxCommentBytes || !strings.HasPrefix(long, got) || len(got) != 128 {
		t.Fatalf("comment cut to %d bytes: %q", len(got), got)
	}
	odd := "x" + long
	if got := comment(odd); len(got) != 127 {
		t.Fatalf("odd cut to %d bytes, want 127", len(got))
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3":            "10.1.2.3/32",
		"10.1.2.3/8":          "10.0.0.0/8",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"2001:db8::1":         "2001:db8::1/128",
		" 192.0.2.0/24 ":      "192.0.2.0/24",
		"fe80::1%eth0":        "fe80::1/128",
	} {
		p, err := cidr.Parse(in)
		if err != nil || p.String() != want {
			t.Errorf("parsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	if _, err := cidr.Parse("nope"); err == nil {
		t.Error("parsePrefix(nope) succeeded")
	}
}

func TestNetNSPath(t *testing.T) {
	for in, want := range map[string]string{
		"":               "",
		"edge":           "/var/run/netns/edge",
		"/proc/1/ns/net": "/proc/1/ns/net",
	} {
		if got := netnsPath(in); got != want {
			t.Errorf("netnsPath(%q) = %q, want %q", in, got, want)
		}
	}
}
