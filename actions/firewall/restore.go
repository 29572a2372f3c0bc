package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// RestoreReport counts what Restore did with the recorded blocks.
type RestoreReport struct {
	// Restored blocks were missing from nftables and were added back with
	// their remaining time.
	Restored int `json:"restored"`
	// Present blocks were still installed; they were left alone.
	Present int `json:"present"`
	// Expired blocks were past their expiry and were forgotten.
	Expired int `json:"expired"`
	// Refused blocks name an address that must now never be blocked (the
	// allowlist or the host's addresses changed); they were lifted, if still
	// installed, and forgotten.
	Refused int `json:"refused"`
	// Lifted addresses were installed but no longer recorded (unblocked or
	// forgotten elsewhere); only Reconcile lifts them.
	Lifted int `json:"lifted"`
	// Retimed blocks were installed with an expiry other than the recorded
	// one (re-blocked elsewhere with a new ttl) and were installed again
	// with the recorded expiry; only Reconcile retimes.
	Retimed int `json:"retimed"`
}

// reconcileSlack is how far an installed block's expiry may drift from the
// recorded one before Reconcile installs it again.
const reconcileSlack = 5 * time.Second

// Restore makes Firebreak's table whole and re-installs every recorded block
// that is still due, with its remaining time (capped to the configured
// maximum). Blocks still installed are left as they are; expired ones are
// forgotten, and ones whose address must now never be blocked are lifted and
// forgotten. Call it at
// start-up; block_ip also calls it by itself when it finds the table gone.
func (f *Firewall) Restore(ctx context.Context) (RestoreReport, error) {
	if err := ctx.Err(); err != nil {
		return RestoreReport{}, err
	}
	s, err := f.open()
	if err != nil {
		return RestoreReport{}, fmt.Errorf("restore: %w", err)
	}
	defer s.Close()
	own, err := ownAddrs(s.ns)
	if err != nil {
		return RestoreReport{}, fmt.Errorf("restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.ensure(s.conn); err != nil {
		return RestoreReport{}, fmt.Errorf("restore: %w", err)
	}
	return f.restoreLocked(ctx, s, own, false)
}

// Reconcile makes this host's sets equal the recorded blocks. In clustered
// mode the record is the cluster's, shared by every replica, so each one
// calls Reconcile periodically to follow blocks made, re-made and lifted
// elsewhere. It does what Restore does, and also lifts installed addresses
// that are no longer recorded and re-installs a block whose kernel expiry
// has drifted from the recorded one, so that a block expires at the same
// moment on every host.
func (f *Firewall) Reconcile(ctx context.Context) (RestoreReport, error) {
	if err := ctx.Err(); err != nil {
		return RestoreReport{}, err
	}
	s, err := f.open()
	if err != nil {
		return RestoreReport{}, fmt.Errorf("reconcile: %w", err)
	}
	defer s.Close()
	own, err := ownAddrs(s.ns)
	if err != nil {
		return RestoreReport{}, fmt.Errorf("reconcile: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.ensure(s.conn); err != nil {
		return RestoreReport{}, fmt.Errorf("reconcile: %w", err)
	}
	return f.restoreLocked(ctx, s, own, true)
}

// restoreLocked re-installs recorded blocks and, with reconcile, lifts
// unrecorded ones and retimes drifted ones; f.mu is held and the table is
// whole.
func (f *Firewall) restoreLocked(ctx context.Context, s *session, own map[netip.Addr]bool, reconcile bool) (RestoreReport, error) {
	var rep RestoreReport
	blocks, err := f.store.ListBlocks(ctx)
	if err != nil {
		return rep, fmt.Errorf("restore: list recorded blocks: %w", err)
	}
	if len(blocks) == 0 && !reconcile {
		return rep, nil
	}
	present, err := f.elements(s.conn)
	if err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}
	now := f.now()
	for _, b := range blocks {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		log := f.log.With("ip", b.IP.String(), "expires_at", b.ExpiresAt, "reason", b.Reason)
		left := b.ExpiresAt.Sub(now).Truncate(time.Millisecond)
		if left <= 0 || !b.IP.IsValid() {
			if err := f.store.DeleteBlock(ctx, b.IP); err != nil {
				return rep, fmt.Errorf("restore: forget expired block %s: %w", b.IP, err)
			}
			rep.Expired++
			continue
		}
		if why := f.refuse(b.IP, own); why != nil {
			// The allowlist or the host's addresses changed since the block:
			// lift it now rather than let it run out.
			if _, ok := present[b.IP]; ok {
				delete(present, b.IP)
				if err := f.remove(s.conn, b.IP); err != nil {
					return rep, fmt.Errorf("restore: lift refused block: %w", err)
				}
			}
			if err := f.store.DeleteBlock(ctx, b.IP); err != nil {
				return rep, fmt.Errorf("restore: forget refused block %s: %w", b.IP, err)
			}
			log.Warn("recorded block lifted and forgotten", "why", why.Error())
			rep.Refused++
			continue
		}
		capped := min(left, f.maxTTL)
		if el, ok := present[b.IP]; ok {
			delete(present, b.IP)
			if drift := el.expires - capped; !reconcile || (drift <= reconcileSlack && drift >= -reconcileSlack) {
				rep.Present++
				continue
			}
			if err := f.add(s.conn, b.IP, capped, comment(b.Reason), true); err != nil {
				return rep, fmt.Errorf("reconcile: %w", err)
			}
			log.Info("installed block given the recorded expiry", "left", capped, "was", el.expires.Truncate(time.Millisecond))
			rep.Retimed++
			continue
		}
		if left > f.maxTTL {
			log.Warn("recorded block longer than the configured maximum; shortened", "left", left, "max_ttl", f.maxTTL)
		}
		if err := f.add(s.conn, b.IP, capped, comment(b.Reason), false); err != nil {
			return rep, fmt.Errorf("restore: %w", err)
		}
		log.Info("recorded block re-installed", "left", capped)
		rep.Restored++
	}
	if !reconcile {
		return rep, nil
	}
	for ip := range present {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := f.remove(s.conn, ip); err != nil {
			return rep, fmt.Errorf("reconcile: lift unrecorded block: %w", err)
		}
		f.log.Info("installed block lifted: no longer recorded", "ip", ip.String())
		rep.Lifted++
	}
	return rep, nil
}
