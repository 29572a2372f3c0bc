package engine

// Steps held while paused (guards.on_pause: hold): the kill switch refused
// them, the engine parked them in the held bucket, and once execution
// resumes they run again through every guard, unless their event went
// stale meanwhile.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

// heldRecord is one step held while paused.
type heldRecord struct {
	EventID  string    `json:"event_id"`
	Seq      uint64    `json:"seq"`
	Playbook string    `json:"playbook"`
	Phase    string    `json:"phase"`
	Step     int       `json:"step"`
	At       time.Time `json:"at"`
}

// ReleaseHeld runs the steps held while paused, in the order they were
// held per event, when execution is no longer paused; it returns how many
// it released. Each runs as on its first try (staleness, then every
// guard): one still refused as paused is held again. Run calls it at start
// and whenever Notify is called, so the resume endpoint only needs to
// Notify; calling it directly is for tests and tools.
func (e *Engine) ReleaseHeld(ctx context.Context) (int, error) {
	return e.releaseHeld(ctx, ctx)
}

// releaseHeld is ReleaseHeld that stops between steps when stop ends and
// runs the steps with work (which a shutdown does not cancel).
func (e *Engine) releaseHeld(stop, ctx context.Context) (int, error) {
	set := e.playbooks.Load()
	if set == nil {
		return 0, ErrNoPlaybooks
	}
	var held []heldRecord
	var keys []string
	paused := false
	err := e.cfg.Store.View(ctx, func(tx state.Tx) error {
		held, keys, paused = held[:0], keys[:0], false
		if pc, ok := e.cfg.Guard.(PauseChecker); ok {
			p, err := pc.PausedNow(tx)
			if err != nil {
				return err
			}
			paused = p
		}
		if paused {
			return nil
		}
		return tx.ForEach(bucketHeld, func(key string, v []byte) error {
			var h heldRecord
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("held step %s: %w", key, err)
			}
			held, keys = append(held, h), append(keys, key)
			return nil
		})
	})
	if err != nil {
		return 0, wrapf(err, "read held steps")
	}
	if paused {
		return 0, nil
	}
	// Cleared before the steps run: one held again meanwhile sets it.
	e.held.Store(false)
	n := 0
	for i, h := range held {
		if stop.Err() != nil {
			e.held.Store(true)
			return n, nil
		}
		pb, ok := set.Get(h.Playbook)
		var why string
		ev, err := e.cfg.Store.Event(ctx, h.Seq)
		switch {
		case !ok:
			why = fmt.Sprintf("playbook %q is no longer loaded", h.Playbook)
		case err != nil:
			// Retention forgets held steps with their event
			// (ForgetEvent), so this is a store failure: try again on
			// the next release.
			return n, wrapf(err, "load the event of held step %s", keys[i])
		case ev.ID != h.EventID:
			why = "its inbox entry now holds another event"
		}
		if why != "" {
			if err := e.dropHeld(ctx, keys[i], h, why); err != nil {
				return n, err
			}
			continue
		}
		c := &carry{}
		if err := e.runSteps(ctx, c, h.Seq, &ev, pb, h.Phase, h.Step, claimHeld); err != nil {
			return n, err
		}
		if err := e.flush(ctx, c); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// dropHeld removes a held step that can no longer run, with a record.
func (e *Engine) dropHeld(ctx context.Context, key string, h heldRecord, why string) error {
	err := e.cfg.Store.Update(ctx, func(tx state.Tx) error {
		if tx.Get(bucketHeld, key) == nil {
			return nil
		}
		if err := tx.Delete(bucketHeld, key); err != nil {
			return err
		}
		if err := tx.Put(bucketSteps, key, claimJSON(claimRefused, tx.Now())); err != nil {
			return err
		}
		return tx.Audit(audit.Record{Kind: audit.KindStepHeld, EventID: h.EventID, Playbook: h.Playbook, Step: audit.StepIndex(h.Step),
			Outcome: "dropped", Message: "a step held while paused cannot run on resume: " + why})
	})
	if err != nil {
		return wrapf(err, "drop held step %s", key)
	}
	e.log.Warn("held step dropped", "event_id", h.EventID, "playbook", h.Playbook, "step", h.Step, "reason", why)
	return nil
}
