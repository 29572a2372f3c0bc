package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/engine/state"
)

// idleBreaker is how long a closed breaker with no history is kept, and
// fpIdle how long an unresolved fingerprint index entry is kept.
const (
	idleBreaker = 24 * time.Hour
	fpIdle      = 7 * 24 * time.Hour
)

// Sweep deletes guard state that can no longer affect a decision: closed
// dedupe windows, budgets whose every run left every window, idle closed
// breakers and stale fingerprint index entries. It returns how many keys
// it removed.
func (g *Guard) Sweep(ctx context.Context) (int, error) {
	removed := 0
	err := g.cfg.Store.Update(ctx, func(tx state.Tx) error {
		removed = 0
		now := tx.Now()
		type victim struct{ bucket, key string }
		var dead []victim
		for _, prefix := range []string{livePrefix, shadowPrefix} {
			if err := tx.ForEach(prefix+nsDedupe, func(k string, v []byte) error {
				var r dedupeRecord
				if json.Unmarshal(v, &r) != nil || !r.keep(now) {
					dead = append(dead, victim{prefix + nsDedupe, k})
				}
				return nil
			}); err != nil {
				return err
			}
			if err := tx.ForEach(prefix+nsBudget, func(k string, v []byte) error {
				var r budgetRecord
				if json.Unmarshal(v, &r) != nil || !r.keep(now) {
					dead = append(dead, victim{prefix + nsBudget, k})
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if err := tx.ForEach(bucketBreaker, func(k string, v []byte) error {
			var r breakerRecord
			if json.Unmarshal(v, &r) == nil && r.State == StateClosed && len(r.Failures) == 0 && len(r.Runs) == 0 &&
				now.Sub(r.Updated) > idleBreaker {
				dead = append(dead, victim{bucketBreaker, k})
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(bucketFP, func(k string, v []byte) error {
			var r fpIndex
			if json.Unmarshal(v, &r) != nil || now.Sub(r.At) > fpIdle {
				dead = append(dead, victim{bucketFP, k})
			}
			return nil
		}); err != nil {
			return err
		}
		for _, d := range dead {
			if err := tx.Delete(d.bucket, d.key); err != nil {
				return err
			}
		}
		removed = len(dead)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep guard state: %w", err)
	}
	return removed, nil
}

// RunSweeper calls Sweep every interval until ctx ends.
func (g *Guard) RunSweeper(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := g.Sweep(ctx); err != nil {
				g.log.Error("sweeping guard state failed", "error", err)
			} else if n > 0 {
				g.log.Debug("swept guard state", "removed", n)
			}
		}
	}
}
