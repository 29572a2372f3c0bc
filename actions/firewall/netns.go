package firewall

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` puts its named namespaces.
const netnsDir = "/var/run/netns"

// netnsPath turns Config.NetNS into a path: a bare name lives under
// /var/run/netns, anything with a slash is a path already.
func netnsPath(ns string) string {
	if ns == "" || strings.ContainsRune(ns, '/') {
		return ns
	}
	return filepath.Join(netnsDir, ns)
}

// nsHandle is an open network namespace, or the current one when fd is 0.
type nsHandle struct {
	fd   int
	name string
}

// openNetNS opens the namespace at path for one operation; the caller closes
// it. An empty path means the process's own namespace. The namespace is
// opened anew for every operation so that a namespace deleted and created
// again under the same name is followed, and a deleted one is noticed.
func openNetNS(path string) (nsHandle, error) {
	if path == "" {
		return nsHandle{name: "current"}, nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nsHandle{}, fmt.Errorf("%w %s: open: %w", ErrNetNS, path, err)
	}
	// netlink treats fd 0 as "the current namespace": never hand it a low fd
	// (possible when stdin is closed).
	if fd < 3 {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
		unix.Close(fd)
		if err != nil {
			return nsHandle{}, fmt.Errorf("%w %s: dup: %w", ErrNetNS, path, err)
		}
		fd = nfd
	}
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil || typ != unix.CLONE_NEWNET {
		unix.Close(fd)
		if err == nil {
			err = fmt.Errorf("namespace type %#x", typ)
		}
		return nsHandle{}, fmt.Errorf("%w %s: not a network namespace: %w", ErrNetNS, path, err)
	}
	return nsHandle{fd: fd, name: path}, nil
}

// Close releases the namespace file descriptor.
func (h nsHandle) Close() {
	if h.fd > 0 {
		unix.Close(h.fd)
	}
}

// ownAddrs lists every address configured on an interface of the namespace,
// through an rtnetlink RTM_GETADDR dump.
func ownAddrs(h nsHandle) (map[netip.Addr]bool, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: h.fd})
	if err != nil {
		return nil, fmt.Errorf("list own addresses: dial rtnetlink: %w", err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETADDR, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfAddrmsg), // ifaddrmsg, family AF_UNSPEC
	})
	if err != nil {
		return nil, fmt.Errorf("list own addresses: %w", err)
	}
	own := map[netip.Addr]bool{}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfAddrmsg:])
		if err != nil {
			return nil, fmt.Errorf("list own addresses: %w", err)
		}
		// IFA_LOCAL is the interface's own address; IFA_ADDRESS is the same
		// except on point-to-point links, where it names the peer. IPv6
		// sends only IFA_ADDRESS.
		var local, addr netip.Addr
		for ad.Next() {
			switch ad.Type() {
			case unix.IFA_LOCAL:
				local, _ = netip.AddrFromSlice(ad.Bytes())
			case unix.IFA_ADDRESS:
				addr, _ = netip.AddrFromSlice(ad.Bytes())
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("list own addresses: %w", err)
		}
		if local.IsValid() {
			own[local.Unmap()] = true
		} else if addr.IsValid() {
			own[addr.Unmap()] = true
		}
	}
	return own, nil
}
