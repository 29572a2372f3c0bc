package firewall

import "errors"

// Sentinel errors.
var (
	// ErrRefused is returned when an address must never be blocked: it is
	// allow-listed, loopback, link-local, unspecified, multicast, broadcast
	// or one of the target namespace's own addresses. Run wraps it with
	// actions.Permanent, since retrying cannot help.
	ErrRefused = errors.New("address must never be blocked")
	// ErrInvalidIP is returned for a parameter that is not a single IPv4 or
	// IPv6 address.
	ErrInvalidIP = errors.New("not a single IP address")
	// ErrTTL is returned for a ttl that is not positive or exceeds the
	// configured maximum. Firebreak refuses rather than silently shortening
	// a block.
	ErrTTL = errors.New("ttl out of range")
	// ErrUnavailable is returned by Available when nftables cannot be
	// driven: no CAP_NET_ADMIN, no nf_tables in the kernel, or a missing
	// network namespace.
	ErrUnavailable = errors.New("nftables unavailable")
	// ErrNetNS is returned when the configured network namespace cannot be
	// opened or is not a network namespace.
	ErrNetNS = errors.New("network namespace")
	// ErrConfig is returned by New for an invalid Config.
	ErrConfig = errors.New("invalid firewall config")
)
