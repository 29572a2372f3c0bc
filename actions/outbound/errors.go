package outbound

import (
	"errors"
	"fmt"
	"net/netip"
)

// Reason is the typed reason of a refusal: the audit outcome of the step
// and the metric label.
const Reason = "destination_refused"

// Sentinel errors.
var (
	// ErrDestinationRefused is the sentinel every refusal wraps.
	ErrDestinationRefused = errors.New("destination refused")
	// ErrTooManyRedirects is returned after MaxRedirects hops.
	ErrTooManyRedirects = errors.New("too many redirects")
)

// RefusedError says which address was refused and why. It never contains
// the URL (its path and query may carry secrets), only the host.
type RefusedError struct {
	// Host is the host name or address being dialled.
	Host string
	// Addr is the refused address (invalid when the host resolved to
	// nothing dialable).
	Addr netip.Addr
	// Why names the rule: "link-local", "loopback", "denied by deny_cidrs" …
	Why string
	// Trust is how far the destination was trusted.
	Trust Trust
}

func (e *RefusedError) Error() string {
	who := e.Host
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		who = fmt.Sprintf("%s (%s)", e.Host, e.Addr)
	}
	return fmt.Sprintf("%s: %s is %s, not allowed for a host %s", ErrDestinationRefused, who, e.Why, e.Trust.from())
}

// Unwrap makes errors.Is(err, ErrDestinationRefused) hold.
func (e *RefusedError) Unwrap() error { return ErrDestinationRefused }

// Reason returns the typed reason, destination_refused.
func (e *RefusedError) Reason() string { return Reason }
