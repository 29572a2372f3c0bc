package firewall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/firebreak/firebreak/actions"
)

// Action ids.
const (
	BlockID   = "firewall.block_ip"
	UnblockID = "firewall.unblock_ip"
)

// BlockIP is the firewall.block_ip action: it adds one address to
// Firebreak's nftables set with its own timeout, and records the block.
type BlockIP struct{ fw *Firewall }

// UnblockIP is the firewall.unblock_ip action: it removes one address from
// Firebreak's nftables set and forgets the recorded block.
type UnblockIP struct{ fw *Firewall }

// BlockAction returns the firewall.block_ip action driving f.
func (f *Firewall) BlockAction() *BlockIP { return &BlockIP{fw: f} }

// UnblockAction returns the firewall.unblock_ip action driving f.
func (f *Firewall) UnblockAction() *UnblockIP { return &UnblockIP{fw: f} }

var (
	_ actions.Action = (*BlockIP)(nil)
	_ actions.Action = (*UnblockIP)(nil)
)

// permissions is what the actions need on the host.
func (f *Firewall) permissions() []string {
	p := []string{"CAP_NET_ADMIN"}
	if f.nsPath != "" {
		p = append(p, "CAP_SYS_ADMIN (to enter network namespace "+f.nsPath+")")
	}
	return p
}

// Spec describes firewall.block_ip.
func (a *BlockIP) Spec() actions.Spec {
	f := a.fw
	return actions.Spec{
		ID: BlockID,
		Description: fmt.Sprintf("Drop all traffic from one IPv4 or IPv6 address with nftables "+
			"(set inet %s %s/%s); the block expires by itself after its ttl.", f.table, setV4, setV6),
		Params: []actions.Param{
			{Name: "ip", Type: actions.String, Required: true,
				Doc: "The address to block, such as \"{{ event.src_ip }}\": one IPv4 or IPv6 address, not a prefix. " +
					"Allow-listed, loopback, link-local, unspecified, multicast and the host's own addresses are refused."},
			{Name: "ttl", Type: actions.Duration, Default: fmtDur(f.defaultTTL),
				Doc: fmt.Sprintf("How long the block lasts; the kernel removes it afterwards. "+
					"From 1s to the configured maximum (%s): a longer ttl is an error, never shortened. "+
					"Blocking an address again restarts its ttl.", fmtDur(f.maxTTL))},
			{Name: "reason", Type: actions.String,
				Doc: fmt.Sprintf("Why, in a few words: recorded with the block and as the nftables element comment (first %d bytes).", maxCommentBytes)},
		},
		Example:     map[string]any{"ip": "203.0.113.7", "ttl": fmtDur(min(30*time.Minute, f.maxTTL)), "reason": "ssh brute force"},
		Destructive: true,
		Reversible:  true,
		Permissions: f.permissions(),
	}
}

// Validate checks the parameters; a literal ip that must never be blocked,
// and a ttl outside [1s, max], are errors already at load time.
func (a *BlockIP) Validate(params map[string]any, final bool) error {
	errs := []error{actions.CheckParams(a.Spec(), params, final)}
	if s, ok := params["ip"].(string); ok {
		ip, err := parseIP(s)
		switch {
		case err != nil:
			errs = append(errs, &actions.ParamError{Param: "ip", Msg: err.Error()})
		case a.fw.neverBlock(ip) != "":
			errs = append(errs, &actions.ParamError{Param: "ip", Msg: a.fw.refuse(ip, nil).Error()})
		}
	}
	if _, ok := params["ttl"].(string); ok {
		if _, err := a.fw.ttl(params); err != nil {
			errs = append(errs, &actions.ParamError{Param: "ttl", Msg: err.Error()})
		}
	}
	return errors.Join(errs...)
}

// ttl reads the ttl parameter, or the default, and checks its range.
func (f *Firewall) ttl(params map[string]any) (time.Duration, error) {
	s, ok := params["ttl"].(string)
	if !ok {
		return f.defaultTTL, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a duration such as \"15m\"", ErrTTL, s)
	}
	if d < minTTL {
		return 0, fmt.Errorf("%w: %s is shorter than %s", ErrTTL, fmtDur(d), minTTL)
	}
	if d > f.maxTTL {
		return 0, fmt.Errorf("%w: %s is longer than the configured maximum %s", ErrTTL, fmtDur(d), fmtDur(f.maxTTL))
	}
	return d.Truncate(time.Millisecond), nil
}

// Target returns the address the run blocks.
func (a *BlockIP) Target(params map[string]any) actions.Target { return target(params) }

func target(params map[string]any) actions.Target {
	s := actions.StringParam(params, "ip", "")
	if ip, err := parseIP(s); err == nil {
		return actions.Target{IP: ip.String()}
	}
	return actions.Target{IP: s}
}

// Run blocks the address: it checks the never-block rules (a refusal is
// permanent), makes sure Firebreak's table is whole (re-installing recorded
// blocks if the table had gone), adds the element with its timeout, replacing
// one already there, and records the block. With req.DryRun it reads the
// current state and says exactly what it would add, changing nothing.
func (a *BlockIP) Run(ctx context.Context, req actions.Request) (actions.Result, error) {
	f := a.fw
	if err := ctx.Err(); err != nil {
		return actions.Result{}, err
	}
	ip, err := parseIP(actions.StringParam(req.Params, "ip", ""))
	if err != nil {
		return actions.Result{}, actions.Permanent(err)
	}
	ttl, err := f.ttl(req.Params)
	if err != nil {
		return actions.Result{}, actions.Permanent(err)
	}
	reason := actions.StringParam(req.Params, "reason", "")
	if err := f.refuse(ip, nil); err != nil {
		return actions.Result{}, actions.Permanent(err)
	}

	// A dry run goes on without nftables access (a process registered in
	// dry-run because it lacks CAP_NET_ADMIN): it says what it would do and
	// reports in Before why it could not look.
	s, obsErr := f.open()
	if obsErr == nil {
		defer s.Close()
	}
	var own map[netip.Addr]bool
	if obsErr == nil {
		own, obsErr = ownAddrs(s.ns)
	}
	if obsErr != nil && !req.DryRun {
		return actions.Result{}, classify(fmt.Errorf("block %s: %w", ip, obsErr))
	}
	if err := f.refuse(ip, own); err != nil {
		return actions.Result{}, actions.Permanent(err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return actions.Result{}, err
	}
	var find func(netip.Addr) (element, bool)
	var st state
	lookErr := obsErr
	if lookErr == nil {
		find, st, lookErr = f.lookup(s.conn)
	}
	if lookErr != nil && !req.DryRun {
		return actions.Result{}, classify(fmt.Errorf("block %s: %w", ip, lookErr))
	}
	now := f.now()
	set := f.objects().set(ip).Name
	where := fmt.Sprintf("set inet %s %s", f.table, set)
	res := actions.Result{
		Output: map[string]any{"ip": ip.String(), "table": "inet " + f.table, "set": set, "ttl": fmtDur(ttl)},
	}
	var old element
	var existed bool
	if lookErr != nil {
		// Dry run without nftables access: say what would be done all the same.
		res.Before = map[string]any{"observed": false, "error": lookErr.Error()}
	} else {
		old, existed = find(ip)
		res.Before = status(now, old, existed)
	}

	if req.DryRun {
		verb := "add it to"
		if existed {
			verb = "replace it in"
		}
		res.Summary = fmt.Sprintf("would block %s for %s: %s %s with timeout %s", ip, fmtDur(ttl), verb, where, fmtDur(ttl))
		if lookErr == nil && !st.whole {
			res.Summary += fmt.Sprintf(", after creating table inet %s with its sets and input/forward drop rules", f.table)
		}
		res.After = map[string]any{"blocked": true, "expires_at": fmtTime(now.Add(ttl)), "expires_in": fmtDur(ttl)}
		res.Output["dry_run"] = true
		return res, nil
	}

	created, err := f.ensure(s.conn)
	if err != nil {
		return actions.Result{}, classify(fmt.Errorf("block %s: %w", ip, err))
	}
	if created {
		rep, err := f.restoreLocked(ctx, s, own, false)
		if err != nil {
			return actions.Result{}, classify(fmt.Errorf("block %s: table inet %s was missing: %w", ip, f.table, err))
		}
		res.Output["table_created"] = true
		res.Output["restored"] = rep.Restored
	}
	replace := existed
	if created {
		// Restoring may have put this very address back.
		if find, _, err = f.lookup(s.conn); err != nil {
			return actions.Result{}, classify(fmt.Errorf("block %s: %w", ip, err))
		}
		_, replace = find(ip)
	}
	if err := f.add(s.conn, ip, ttl, comment(reason), replace); err != nil {
		return actions.Result{}, classify(fmt.Errorf("block %s: %w", ip, err))
	}
	b := Block{IP: ip, Reason: reason, CreatedAt: now, ExpiresAt: now.Add(ttl), Playbook: req.Playbook}
	if req.Event != nil {
		b.EventID = req.Event.ID
	}
	// The element is in place and expires by itself; failing to record it
	// only loses it across a restart, and a retry is harmless.
	if err := f.store.SaveBlock(ctx, b); err != nil {
		return actions.Result{}, fmt.Errorf("block %s: installed but not recorded: %w", ip, err)
	}

	if find, _, err = f.lookup(s.conn); err != nil {
		return actions.Result{}, classify(fmt.Errorf("block %s: read back: %w", ip, err))
	}
	el, ok := find(ip)
	if !ok {
		return actions.Result{}, fmt.Errorf("block %s: element missing from %s right after adding it", ip, where)
	}
	res.After = status(f.now(), el, true)
	res.Output["expires_at"] = fmtTime(b.ExpiresAt)
	verb := "blocked"
	if existed {
		verb = "re-blocked"
	}
	res.Summary = fmt.Sprintf("%s %s for %s in %s", verb, ip, fmtDur(ttl), where)
	if existed {
		res.Summary += fmt.Sprintf(" (the previous block had %s left)", fmtDur(old.expires.Round(time.Second)))
	}
	return res, nil
}

// classify marks a failure that retrying cannot fix as permanent: the
// process lacks CAP_NET_ADMIN (or CAP_SYS_ADMIN to enter the namespace).
func classify(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return actions.Permanent(fmt.Errorf("%w: %w", ErrUnavailable, err))
	}
	return err
}

// status describes an element for Result.Before and After.
func status(now time.Time, e element, present bool) map[string]any {
	if !present {
		return map[string]any{"blocked": false}
	}
	m := map[string]any{"blocked": true}
	if e.timeout > 0 {
		m["expires_at"] = fmtTime(now.Add(e.expires))
		m["expires_in"] = fmtDur(e.expires.Round(time.Second))
		m["timeout"] = fmtDur(e.timeout)
	}
	if e.comment != "" {
		m["comment"] = e.comment
	}
	return m
}

// comment cuts reason to what an nftables element comment holds, on a rune
// boundary.
func comment(reason string) string {
	if len(reason) <= maxCommentBytes {
		return reason
	}
	cut := maxCommentBytes
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// fmtDur writes a duration the way people do: 1h, 1h30m, 90s, 1.5s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// addrOf parses the ip parameter for the unblock action, which applies no
// never-block rule: removing a block is always allowed.
func addrOf(params map[string]any) (netip.Addr, error) {
	return parseIP(actions.StringParam(params, "ip", ""))
}
