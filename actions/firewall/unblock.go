package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/firebreak/firebreak/actions"
)

// Spec describes firewall.unblock_ip.
func (a *UnblockIP) Spec() actions.Spec {
	f := a.fw
	return actions.Spec{
		ID: UnblockID,
		Description: fmt.Sprintf("Lift a block before its ttl: remove one address from nftables "+
			"(set inet %s %s/%s) and forget the recorded block; an address not blocked is a no-op.", f.table, setV4, setV6),
		Params: []actions.Param{
			{Name: "ip", Type: actions.String, Required: true,
				Doc: "The address to unblock: one IPv4 or IPv6 address, not a prefix."},
			{Name: "reason", Type: actions.String,
				Doc: "Why the block is lifted; recorded in the result only."},
		},
		Example:     map[string]any{"ip": "203.0.113.7", "reason": "false positive"},
		Destructive: true,
		Reversible:  true,
		Permissions: f.permissions(),
	}
}

// Validate checks the parameters.
func (a *UnblockIP) Validate(params map[string]any, final bool) error {
	errs := []error{actions.CheckParams(a.Spec(), params, final)}
	if s, ok := params["ip"].(string); ok {
		if _, err := parseIP(s); err != nil {
			errs = append(errs, &actions.ParamError{Param: "ip", Msg: err.Error()})
		}
	}
	return errors.Join(errs...)
}

// Target returns the address the run unblocks.
func (a *UnblockIP) Target(params map[string]any) actions.Target { return target(params) }

// Run removes the address from Firebreak's set. The recorded block is
// forgotten first, so that a failure in between can never leave a block that
// a restart would bring back. Unblocking an address that is not blocked
// succeeds and says so. With req.DryRun it says what it would remove.
func (a *UnblockIP) Run(ctx context.Context, req actions.Request) (actions.Result, error) {
	f := a.fw
	if err := ctx.Err(); err != nil {
		return actions.Result{}, err
	}
	ip, err := addrOf(req.Params)
	if err != nil {
		return actions.Result{}, actions.Permanent(err)
	}
	s, lookErr := f.open()
	if lookErr != nil && !req.DryRun {
		return actions.Result{}, classify(fmt.Errorf("unblock %s: %w", ip, lookErr))
	}
	if lookErr == nil {
		defer s.Close()
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return actions.Result{}, err
	}
	var find func(netip.Addr) (element, bool)
	if lookErr == nil {
		find, _, lookErr = f.lookup(s.conn)
	}
	if lookErr != nil && !req.DryRun {
		return actions.Result{}, classify(fmt.Errorf("unblock %s: %w", ip, lookErr))
	}
	now := f.now()
	set := f.objects().set(ip).Name
	where := fmt.Sprintf("set inet %s %s", f.table, set)
	res := actions.Result{
		Output: map[string]any{"ip": ip.String(), "table": "inet " + f.table, "set": set},
	}
	if r := actions.StringParam(req.Params, "reason", ""); r != "" {
		res.Output["reason"] = r
	}
	var existed bool
	if lookErr != nil {
		res.Before = map[string]any{"observed": false, "error": lookErr.Error()}
	} else {
		var old element
		old, existed = find(ip)
		res.Before = status(now, old, existed)
	}
	res.After = map[string]any{"blocked": false}

	if req.DryRun {
		res.Output["dry_run"] = true
		if existed || lookErr != nil {
			res.Summary = fmt.Sprintf("would unblock %s: remove it from %s and forget the recorded block", ip, where)
		} else {
			res.Summary = fmt.Sprintf("%s is not blocked in %s: would only forget any recorded block", ip, where)
		}
		return res, nil
	}

	if err := f.store.DeleteBlock(ctx, ip); err != nil {
		return actions.Result{}, fmt.Errorf("unblock %s: forget recorded block: %w", ip, err)
	}
	if !existed {
		res.Summary = fmt.Sprintf("%s was not blocked in %s; nothing to remove", ip, where)
		return res, nil
	}
	if err := f.remove(s.conn, ip); err != nil {
		return actions.Result{}, classify(fmt.Errorf("unblock %s: %w", ip, err))
	}
	find, _, err = f.lookup(s.conn)
	if err != nil {
		return actions.Result{}, classify(fmt.Errorf("unblock %s: read back: %w", ip, err))
	}
	if _, still := find(ip); still {
		return actions.Result{}, fmt.Errorf("unblock %s: still in %s after removing it", ip, where)
	}
	res.Summary = fmt.Sprintf("unblocked %s: removed it from %s", ip, where)
	return res, nil
}
