package firewall

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

const familyINet = nftables.TableFamilyINet

// chainPriority runs Firebreak's chains just before the usual filter chains,
// so a blocked packet goes no further. (A drop in any base chain is final,
// so the order only saves work.)
var chainPriority = nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 10)

// batchMu serialises nftables batches that add sets: github.com/google/nftables
// numbers new sets from a package-level counter that its own locks do not
// cover across Conns.
var batchMu sync.Mutex

// newConn opens a lasting nftables netlink connection in namespace h; the
// caller closes it with CloseLasting.
func newConn(h nsHandle) (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if h.fd != 0 {
		opts = append(opts, nftables.WithNetNSFd(h.fd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink in namespace %s: %w", h.name, err)
	}
	return c, nil
}

// session is one operation's namespace and nftables connection.
type session struct {
	ns   nsHandle
	conn *nftables.Conn
}

// open enters the configured namespace for one operation.
func (f *Firewall) open() (*session, error) {
	h, err := openNetNS(f.nsPath)
	if err != nil {
		return nil, err
	}
	c, err := newConn(h)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &session{ns: h, conn: c}, nil
}

// Close releases the connection and the namespace.
func (s *session) Close() {
	_ = s.conn.CloseLasting()
	s.ns.Close()
}

// objects are the nftables objects Firebreak owns, described for one batch.
type objects struct {
	table          *nftables.Table
	v4, v6         *nftables.Set
	input, forward *nftables.Chain
}

func (f *Firewall) objects() objects {
	t := &nftables.Table{Name: f.table, Family: familyINet}
	policy := nftables.ChainPolicyAccept
	return objects{
		table: t,
		v4:    &nftables.Set{Table: t, Name: setV4, KeyType: nftables.TypeIPAddr, HasTimeout: true},
		v6:    &nftables.Set{Table: t, Name: setV6, KeyType: nftables.TypeIP6Addr, HasTimeout: true},
		input: &nftables.Chain{Table: t, Name: chainIn, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookInput, Priority: chainPriority, Policy: &policy},
		forward: &nftables.Chain{Table: t, Name: chainFwd, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: chainPriority, Policy: &policy},
	}
}

// set returns the set that holds addresses of ip's family.
func (o objects) set(ip netip.Addr) *nftables.Set {
	if ip.Is4() {
		return o.v4
	}
	return o.v6
}

// key is the set element key for ip: 4 or 16 bytes, network order.
func key(ip netip.Addr) []byte { return ip.AsSlice() }

// ruleComment marks Firebreak's rules, so a check can tell they are intact.
func ruleComment(set string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, "firebreak: drop saddr in @"+set)
}

// dropRule is `meta nfproto ipvX ip[6] saddr @set counter drop`.
func dropRule(c *nftables.Chain, s *nftables.Set) *nftables.Rule {
	proto, off, n := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if s.Name == setV6 {
		proto, off, n = unix.NFPROTO_IPV6, 8, 16
	}
	return &nftables.Rule{
		Table: c.Table,
		Chain: c,
		Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
			&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop},
		},
		UserData: ruleComment(s.Name),
	}
}

// state is what inspect found of Firebreak's table.
type state struct {
	table bool // the table exists
	sets  bool // both sets exist, with timeouts
	whole bool // table, sets, chains and rules are all as Firebreak makes them
}

// inspect reads Firebreak's table without changing anything.
func (f *Firewall) inspect(c *nftables.Conn) (state, error) {
	var st state
	tables, err := c.ListTablesOfFamily(familyINet)
	if err != nil {
		return st, fmt.Errorf("list tables: %w", err)
	}
	for _, t := range tables {
		st.table = st.table || t.Name == f.table
	}
	if !st.table {
		return st, nil
	}
	o := f.objects()
	sets, err := c.GetSets(o.table)
	if err != nil {
		return st, fmt.Errorf("list sets of %s: %w", f.table, err)
	}
	found := 0
	for _, s := range sets {
		if s.HasTimeout && ((s.Name == setV4 && s.KeyType.Name == nftables.TypeIPAddr.Name) ||
			(s.Name == setV6 && s.KeyType.Name == nftables.TypeIP6Addr.Name)) {
			found++
		}
	}
	st.sets = found == 2
	if !st.sets {
		return st, nil
	}
	chains, err := c.ListChainsOfTableFamily(familyINet)
	if err != nil {
		return st, fmt.Errorf("list chains: %w", err)
	}
	for _, want := range []*nftables.Chain{o.input, o.forward} {
		ok := false
		for _, ch := range chains {
			if ch.Table.Name == f.table && ch.Name == want.Name && ch.Hooknum != nil &&
				*ch.Hooknum == *want.Hooknum && ch.Policy != nil && *ch.Policy == nftables.ChainPolicyAccept {
				ok = true
			}
		}
		if !ok {
			return st, nil
		}
		rules, err := c.GetRules(o.table, want)
		if err != nil {
			return st, fmt.Errorf("list rules of %s: %w", want.Name, err)
		}
		if len(rules) != 2 || !bytes.Equal(rules[0].UserData, ruleComment(setV4)) ||
			!bytes.Equal(rules[1].UserData, ruleComment(setV6)) {
			return st, nil
		}
	}
	st.whole = true
	return st, nil
}

// ensure creates Firebreak's table, sets, chains and rules, or repairs them,
// in one atomic batch, unless inspect finds them whole. It reports whether
// the table was missing (a first start, a reboot or a flushed ruleset), in
// which case recorded blocks need re-installing. Existing set elements are
// kept: only the two chains are flushed and refilled.
func (f *Firewall) ensure(c *nftables.Conn) (created bool, err error) {
	st, err := f.inspect(c)
	if err != nil {
		return false, err
	}
	if st.whole {
		return false, nil
	}
	batchMu.Lock()
	defer batchMu.Unlock()
	o := f.objects()
	c.AddTable(o.table)
	for _, s := range []*nftables.Set{o.v4, o.v6} {
		if err := c.AddSet(s, nil); err != nil {
			return false, fmt.Errorf("add set %s: %w", s.Name, err)
		}
	}
	for _, ch := range []*nftables.Chain{o.input, o.forward} {
		c.AddChain(ch)
		c.FlushChain(ch)
		c.AddRule(dropRule(ch, o.v4))
		c.AddRule(dropRule(ch, o.v6))
	}
	if err := c.Flush(); err != nil {
		return false, fmt.Errorf("create table inet %s: %w", f.table, err)
	}
	return !st.table, nil
}

// element is one address found in a set.
type element struct {
	ip      netip.Addr
	expires time.Duration // time left before the kernel removes it
	timeout time.Duration // the timeout it was added with
	comment string
}

// elements lists the addresses in both sets. The caller has checked that the
// sets exist.
func (f *Firewall) elements(c *nftables.Conn) (map[netip.Addr]element, error) {
	o := f.objects()
	out := map[netip.Addr]element{}
	for _, s := range []*nftables.Set{o.v4, o.v6} {
		els, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("list set %s: %w", s.Name, err)
		}
		for _, e := range els {
			ip, ok := netip.AddrFromSlice(e.Key)
			if !ok {
				continue
			}
			out[ip] = element{ip: ip, expires: e.Expires, timeout: e.Timeout, comment: e.Comment}
		}
	}
	return out, nil
}

// lookup finds ip in Firebreak's sets; a missing table or set means absent.
func (f *Firewall) lookup(c *nftables.Conn) (func(netip.Addr) (element, bool), state, error) {
	st, err := f.inspect(c)
	if err != nil || !st.sets {
		return func(netip.Addr) (element, bool) { return element{}, false }, st, err
	}
	els, err := f.elements(c)
	if err != nil {
		return nil, st, err
	}
	return func(ip netip.Addr) (element, bool) { e, ok := els[ip]; return e, ok }, st, nil
}

// add puts ip in its set with the given timeout, replacing an element that
// is already there (delete and add in one batch, so the new timeout holds on
// every kernel). A delete that finds the element gone (it expired meanwhile)
// is retried as a plain add.
func (f *Firewall) add(c *nftables.Conn, ip netip.Addr, ttl time.Duration, comment string, replace bool) error {
	s := f.objects().set(ip)
	el := nftables.SetElement{Key: key(ip), Timeout: ttl, Comment: comment}
	if replace {
		if err := c.SetDeleteElements(s, []nftables.SetElement{{Key: key(ip)}}); err != nil {
			return fmt.Errorf("delete %s from %s: %w", ip, s.Name, err)
		}
	}
	if err := c.SetAddElements(s, []nftables.SetElement{el}); err != nil {
		return fmt.Errorf("add %s to %s: %w", ip, s.Name, err)
	}
	err := c.Flush()
	if replace && errors.Is(err, unix.ENOENT) {
		return f.add(c, ip, ttl, comment, false)
	}
	if err != nil {
		return fmt.Errorf("add %s to %s: %w", ip, s.Name, err)
	}
	return nil
}

// remove deletes ip from its set. An element already gone is not an error.
func (f *Firewall) remove(c *nftables.Conn, ip netip.Addr) error {
	s := f.objects().set(ip)
	if err := c.SetDeleteElements(s, []nftables.SetElement{{Key: key(ip)}}); err != nil {
		return fmt.Errorf("delete %s from %s: %w", ip, s.Name, err)
	}
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete %s from %s: %w", ip, s.Name, err)
	}
	return nil
}
