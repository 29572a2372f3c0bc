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
	// Lifted blocks were installed but no longer recorded (lifted on
	// another replica); they were removed. Only with Config.Authoritative.
	Lifted int `json:"lifted"`
}

// Restore makes Firebreak's table whole and re-installs every recorded block
// that is still due, with its remaining time (capped to the configured
// maximum). Blocks still installed are left as they are; expired ones are
// forgotten, and ones whose address must now never be blocked are lifted and
// forgotten. With Config.Authoritative, addresses installed but no longer
// recorded are lifted too, so a cluster's replicas follow its list of
// blocks both ways. Call it at
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
	return f.restoreLocked(ctx, s, own)
}

// restoreLocked re-installs recorded blocks; f.mu is held and the table is
// whole.
func (f *Firewall) restoreLocked(ctx context.Context, s *session, own map[netip.Addr]bool) (RestoreReport, error) {
	var rep RestoreReport
	blocks, err := f.store.ListBlocks(ctx)
	if err != nil {
		return rep, fmt.Errorf("restore: list recorded blocks: %w", err)
	}
	if len(blocks) == 0 && !f.authority {
		return rep, nil
	}
	present, err := f.elements(s.conn)
	if err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}
	if f.authority {
		recorded := make(map[netip.Addr]bool, len(blocks))
		for _, b := range blocks {
			recorded[b.IP] = true
		}
		for ip := range present {
			if recorded[ip] {
				continue
			}
			if err := f.remove(s.conn, ip); err != nil {
				return rep, fmt.Errorf("restore: lift unrecorded block: %w", err)
			}
			f.log.Info("installed block no longer recorded; lifted", "ip", ip.String())
			rep.Lifted++
		}
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
		if _, ok := present[b.IP]; ok {
			rep.Present++
			continue
		}
		if left > f.maxTTL {
			log.Warn("recorded block longer than the configured maximum; shortened", "left", left, "max_ttl", f.maxTTL)
			left = f.maxTTL
		}
		if err := f.add(s.conn, b.IP, left, comment(b.Reason), false); err != nil {
			return rep, fmt.Errorf("restore: %w", err)
		}
		log.Info("recorded block re-installed", "left", left)
		rep.Restored++
	}
	return rep, nil
}
