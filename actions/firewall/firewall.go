package firewall

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/internal/cidr"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTable      = "firebreak"
	DefaultTTL        = time.Hour
	DefaultMaxTTL     = 24 * time.Hour
	minTTL            = time.Second
	maxCommentBytes   = 128 // nft keeps element comments short
	setV4, setV6      = "blocked_ipv4", "blocked_ipv6"
	chainIn, chainFwd = "input", "forward"
)

var tableName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// Config configures a Firewall. The zero value works: table inet firebreak in
// the process's own network namespace, nothing allow-listed beyond the
// built-in never-block rules, blocks of at most 24h (1h by default), recorded
// in memory only.
type Config struct {
	// Table is the name of the inet table Firebreak owns; default "firebreak".
	Table string
	// NetNS is the network namespace to operate in: empty for the process's
	// own, a bare name for /var/run/netns/NAME (as `ip netns add` creates),
	// or a path such as /proc/1234/ns/net.
	NetNS string
	// Allowlist holds CIDR prefixes or single addresses that are never
	// blocked (the load balancers, the office, the monitoring hosts).
	Allowlist []string
	// MaxTTL caps the ttl parameter: a longer ttl is a validation error,
	// never silently shortened. Default 24h.
	MaxTTL time.Duration
	// DefaultTTL is the ttl of a block that names none. Default 1h.
	DefaultTTL time.Duration
	// Now is the clock used for recorded expiry times. Default time.Now.
	// The kernel's own timeouts always run on real time.
	Now func() time.Time
	// Store records blocks for Restore. Default: a MemoryStore, so blocks
	// survive a flushed ruleset but not a restart.
	Store BlockStore
	// Logger receives what Restore re-installs or drops. Default: discard.
	Logger *slog.Logger
}

// Firewall drives Firebreak's nftables table. It is safe for concurrent use;
// changes to the table are serialised.
type Firewall struct {
	table      string
	nsPath     string
	allow      []netip.Prefix
	maxTTL     time.Duration
	defaultTTL time.Duration
	now        func() time.Time
	store      BlockStore
	log        *slog.Logger

	mu sync.Mutex // serialises read-modify-write of the sets
}

// New checks cfg, fills in its defaults and returns a Firewall. It does no
// I/O: call Available to learn whether nftables can be driven and Restore to
// install the table and re-install recorded blocks.
func New(cfg Config) (*Firewall, error) {
	f := &Firewall{
		table:      cfg.Table,
		nsPath:     netnsPath(cfg.NetNS),
		maxTTL:     cfg.MaxTTL,
		defaultTTL: cfg.DefaultTTL,
		now:        cfg.Now,
		store:      cfg.Store,
		log:        cfg.Logger,
	}
	if f.table == "" {
		f.table = DefaultTable
	}
	if !tableName.MatchString(f.table) {
		return nil, fmt.Errorf("%w: table %q: want a letter then letters, digits or underscores", ErrConfig, f.table)
	}
	if f.maxTTL == 0 {
		f.maxTTL = DefaultMaxTTL
	}
	if f.defaultTTL == 0 {
		f.defaultTTL = min(DefaultTTL, f.maxTTL)
	}
	if f.maxTTL < minTTL {
		return nil, fmt.Errorf("%w: max ttl %s is shorter than %s", ErrConfig, f.maxTTL, minTTL)
	}
	if f.defaultTTL < minTTL || f.defaultTTL > f.maxTTL {
		return nil, fmt.Errorf("%w: default ttl %s is outside [%s, %s]", ErrConfig, f.defaultTTL, minTTL, f.maxTTL)
	}
	for _, s := range cfg.Allowlist {
		p, err := cidr.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: allowlist %q: %w", ErrConfig, s, err)
		}
		f.allow = append(f.allow, p)
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.store == nil {
		f.store = NewMemoryStore()
	}
	if f.log == nil {
		f.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return f, nil
}

// Table returns the name of the inet table the Firewall owns.
func (f *Firewall) Table() string { return f.table }

// parseIP reads a block target: one IPv4 or IPv6 address, no prefix, no zone.
// IPv4-mapped IPv6 addresses become IPv4.
func parseIP(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		return netip.Addr{}, fmt.Errorf("%w: %q is a prefix; block one address at a time", ErrInvalidIP, s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %q", ErrInvalidIP, s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: %q carries a zone", ErrInvalidIP, s)
	}
	return a.Unmap(), nil
}

// neverBlock says why ip must never be blocked, from the rules that need no
// I/O: the address kinds and the allowlist. It returns "" when none applies.
func (f *Firewall) neverBlock(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	}
	for _, p := range f.allow {
		if p.Contains(ip) {
			return "allow-listed by " + p.String()
		}
	}
	return ""
}

// refuse returns ErrRefused, wrapped, when ip must never be blocked, checking
// the namespace's own addresses as well when own is not nil.
func (f *Firewall) refuse(ip netip.Addr, own map[netip.Addr]bool) error {
	why := f.neverBlock(ip)
	if why == "" && own[ip] {
		why = "one of this host's own addresses"
		if f.nsPath != "" {
			why = "an address of network namespace " + f.nsPath
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w: %s is %s", ErrRefused, ip, why)
}

// Available reports whether nftables can be driven in the configured
// namespace: the namespace opens and a netlink read of the nftables tables
// succeeds (which needs CAP_NET_ADMIN). It changes nothing. A non-nil error
// wraps ErrUnavailable and says why, ready to pass to
// actions.Registry.RegisterDryRun.
func (f *Firewall) Available(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s, err := f.open()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer s.Close()
	if _, err := s.conn.ListTablesOfFamily(familyINet); err != nil {
		return fmt.Errorf("%w: netlink (needs CAP_NET_ADMIN and nf_tables): %w", ErrUnavailable, err)
	}
	return nil
}
