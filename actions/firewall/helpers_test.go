package firewall_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireRoot skips a test that needs root, ip and nft, except under CI=true
// where their absence is a failure.
func requireRoot(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	}
	for _, bin := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(bin); err != nil && why == "" {
			why = bin + " not installed (Debian packages iproute2, nftables)"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("firewall tests need network namespaces: %s", why)
	}
	t.Skipf("skipping: firewall tests need root, ip and nft to create network namespaces: %s", why)
}

// run runs a command and fails the test when it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Test addresses (RFC 5737 and RFC 3849 documentation ranges).
var (
	serverV4  = netip.MustParseAddr("192.0.2.1")
	clientV4  = netip.MustParseAddr("192.0.2.2")
	otherV4   = netip.MustParseAddr("192.0.2.3")
	allowedV4 = netip.MustParseAddr("192.0.2.100")
	serverV6  = netip.MustParseAddr("2001:db8::1")
	clientV6  = netip.MustParseAddr("2001:db8::2")
	otherV6   = netip.MustParseAddr("2001:db8::3")
)

// lab is a server namespace and a client namespace joined by a veth pair,
// with a TCP listener in the server namespace.
type lab struct {
	server, client string // namespace names under /var/run/netns
	port           int
}

// newLab creates the namespaces, removed again when the test ends. The
// client namespace holds two IPv4 and two IPv6 addresses, so one can be
// blocked while the other still passes. No traffic leaves the namespaces.
func newLab(t testing.TB) *lab {
	t.Helper()
	requireRoot(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	l := &lab{server: "fbtest-s-" + id, client: "fbtest-c-" + id}
	vs, vc := "fbs"+id, "fbc"+id // interface names stay under 16 bytes
	run(t, "ip", "netns", "add", l.server)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", l.server).Run() })
	run(t, "ip", "netns", "add", l.client)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", l.client).Run() })
	run(t, "ip", "link", "add", vs, "netns", l.server, "type", "veth", "peer", "name", vc, "netns", l.client)
	for _, c := range [][]string{
		{"-n", l.server, "addr", "add", serverV4.String() + "/24", "dev", vs},
		{"-n", l.server, "addr", "add", serverV6.String() + "/64", "dev", vs, "nodad"},
		{"-n", l.client, "addr", "add", clientV4.String() + "/24", "dev", vc},
		{"-n", l.client, "addr", "add", otherV4.String() + "/24", "dev", vc},
		{"-n", l.client, "addr", "add", allowedV4.String() + "/24", "dev", vc},
		{"-n", l.client, "addr", "add", clientV6.String() + "/64", "dev", vc, "nodad"},
		{"-n", l.client, "addr", "add", otherV6.String() + "/64", "dev", vc, "nodad"},
		{"-n", l.server, "link", "set", "lo", "up"},
		{"-n", l.client, "link", "set", "lo", "up"},
		{"-n", l.server, "link", "set", vs, "up"},
		{"-n", l.client, "link", "set", vc, "up"},
	} {
		run(t, "ip", c...)
	}

	var ln net.Listener
	err := inNetNS(l.server, func() error {
		var err error
		ln, err = net.Listen("tcp", "[::]:0") // dual-stack
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", l.server, err)
	}
	t.Cleanup(func() { ln.Close() })
	l.port = ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// The veth pair needs a moment to come up (carrier, IPv6 addresses).
	deadline := time.Now().Add(10 * time.Second)
	for _, src := range []netip.Addr{clientV4, clientV6} {
		for l.connect(src, 500*time.Millisecond) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("lab never came up: %v", l.connect(src, time.Second))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return l
}

// connect opens a TCP connection from src in the client namespace to the
// server's address of the same family.
func (l *lab) connect(src netip.Addr, timeout time.Duration) error {
	dst := serverV4
	if src.Is6() {
		dst = serverV6
	}
	return inNetNS(l.client, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(dst, uint16(l.port)).String())
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// passes fails the test unless src can connect.
func (l *lab) passes(t testing.TB, src netip.Addr) {
	t.Helper()
	if err := l.connect(src, 2*time.Second); err != nil {
		t.Fatalf("traffic from %s should pass: %v", src, err)
	}
}

// dropped fails the test unless a connection from src times out.
func (l *lab) dropped(t testing.TB, src netip.Addr) {
	t.Helper()
	err := l.connect(src, 400*time.Millisecond)
	if err == nil {
		t.Fatalf("traffic from %s should be dropped, but it connected", src)
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("traffic from %s: want a timeout (dropped), got %v", src, err)
	}
}

// nft runs the nft CLI in the server namespace, to inspect the ruleset.
func (l *lab) nft(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", l.server, "nft"}, args...)...)
}

// inNetNS runs fn on an OS thread that has entered the named namespace.
// Sockets fn creates stay in that namespace afterwards. If the thread cannot
// return to its namespace it is left locked, so the runtime discards it.
func inNetNS(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/var/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
