package guard

import (
	"context"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

// pauseRecord is the kill switch as the API set it.
type pauseRecord struct {
	Paused bool      `json:"paused"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// PauseStatus is the kill switch's state.
type PauseStatus struct {
	// Paused is true when either the configuration or the API paused.
	Paused bool `json:"paused"`
	// ByConfig is true when the configuration file sets paused.
	ByConfig bool `json:"by_config"`
	// By, Reason and Since describe the last API pause or resume.
	By     string     `json:"by,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
}

func (g *Guard) checkPaused(tx state.Tx) (engine.Verdict, error) {
	if g.cfg.Paused {
		return refuse(ReasonPaused, "execution is paused by the configuration file (guards.paused)"), nil
	}
	var rec pauseRecord
	ok, err := getJSON(tx, bucketControl, "pause", &rec)
	if err != nil {
		return engine.Verdict{}, err
	}
	if ok && rec.Paused {
		msg := "execution is paused since " + rec.At.UTC().Format(time.RFC3339)
		if rec.By != "" {
			msg += " by " + rec.By
		}
		if rec.Reason != "" {
			msg += ": " + rec.Reason
		}
		return refuse(ReasonPaused, "%s", msg), nil
	}
	return engine.Verdict{}, nil
}

// PausedNow implements engine.PauseChecker: whether the configuration or
// the API has the kill switch on.
func (g *Guard) PausedNow(tx state.Tx) (bool, error) {
	st, err := g.pauseStatus(tx)
	return st.Paused, err
}

func (g *Guard) pauseStatus(tx state.Tx) (PauseStatus, error) {
	var rec pauseRecord
	ok, err := getJSON(tx, bucketControl, "pause", &rec)
	if err != nil {
		return PauseStatus{}, err
	}
	st := PauseStatus{Paused: g.cfg.Paused || rec.Paused, ByConfig: g.cfg.Paused}
	if ok {
		at := rec.At
		st.By, st.Reason, st.Since = rec.By, rec.Reason, &at
	}
	return st, nil
}

// PauseStatus reports the kill switch.
func (g *Guard) PauseStatus(ctx context.Context) (PauseStatus, error) {
	var st PauseStatus
	err := g.cfg.Store.View(ctx, func(tx state.Tx) error {
		var err error
		st, err = g.pauseStatus(tx)
		return err
	})
	return st, err
}

// Pause turns the kill switch on: from the next check every step is
// refused as paused, until Resume. It is audited with actor.
func (g *Guard) Pause(ctx context.Context, actor, reason string) (PauseStatus, error) {
	return g.setPause(ctx, true, actor, reason)
}

// Resume turns the API kill switch off. While the configuration sets
// paused it returns ErrPausedByConfig and changes nothing.
func (g *Guard) Resume(ctx context.Context, actor string) (PauseStatus, error) {
	if g.cfg.Paused {
		st, err := g.PauseStatus(ctx)
		if err != nil {
			return st, err
		}
		return st, ErrPausedByConfig
	}
	return g.setPause(ctx, false, actor, "")
}

func (g *Guard) setPause(ctx context.Context, paused bool, actor, reason string) (PauseStatus, error) {
	var st PauseStatus
	err := g.cfg.Store.Update(ctx, func(tx state.Tx) error {
		now := tx.Now()
		if err := putJSON(tx, bucketControl, "pause", pauseRecord{Paused: paused, By: actor, Reason: reason, At: now}); err != nil {
			return err
		}
		r := audit.Record{Kind: KindResumed, Outcome: "resumed", Actor: actor, Message: "execution resumed"}
		if paused {
			r.Kind, r.Outcome, r.Message = KindPaused, "paused", "execution paused"
			if reason != "" {
				r.Message += ": " + reason
			}
		}
		if err := tx.Audit(r); err != nil {
			return err
		}
		var err error
		st, err = g.pauseStatus(tx)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("set pause: %w", err)
	}
	g.log.Warn("kill switch changed", "paused", paused, "actor", actor)
	return st, nil
}

// dedupeRecord is an open dedupe window.
type dedupeRecord struct {
	EventID string    `json:"event_id"`
	At      time.Time `json:"at"`
	Until   time.Time `json:"until"`
}

// checkDedupe refuses a step when another event opened the playbook's
// window for the same dedupe key; the event that opened it (its later
// steps, a retry after approval) passes. The window opens when the first
// run is allowed, in the same transaction.
func (g *Guard) checkDedupe(tx state.Tx, prefix string, p *engine.Plan, now time.Time, puts *[]put) (engine.Verdict, error) {
	d := p.Playbook.Dedupe
	if d == nil || d.Window <= 0 {
		return engine.Verdict{}, nil
	}
	key, err := p.Playbook.DedupeKey(p.Event)
	if err != nil {
		return refuse(ReasonGuardError, "the dedupe key could not be evaluated: %v", err), nil
	}
	bucket, k := prefix+nsDedupe, p.Playbook.Name+"|"+key
	var rec dedupeRecord
	ok, err := getJSON(tx, bucket, k, &rec)
	if err != nil {
		return engine.Verdict{}, err
	}
	if ok && now.Before(rec.Until) {
		if rec.EventID == p.Event.ID {
			return engine.Verdict{}, nil
		}
		return refuse(ReasonDeduped, "dedupe key %q already acted on by event %s at %s; window open until %s",
			key, rec.EventID, rec.At.UTC().Format(time.RFC3339), rec.Until.UTC().Format(time.RFC3339)), nil
	}
	*puts = append(*puts, put{bucket, k, mustJSON(dedupeRecord{EventID: p.Event.ID, At: now, Until: now.Add(d.Window)})})
	return engine.Verdict{}, nil
}

// nanos is a time as Unix nanoseconds: window records hold many stamps and
// are decoded on every check, so they avoid RFC 3339 parsing.
type nanos int64

func toNanos(t time.Time) nanos { return nanos(t.UnixNano()) }

// Time returns n as a time.Time.
func (n nanos) Time() time.Time { return time.Unix(0, int64(n)) }

// age is how long before now n was.
func (n nanos) age(now time.Time) time.Duration { return time.Duration(now.UnixNano() - int64(n)) }

// stamp is one run counted by a budget.
type stamp struct {
	At  nanos  `json:"at"`
	Run string `json:"run"` // event id (per playbook × target) or event|playbook|target (global)
}

// budgetRecord holds the runs of one playbook on one target.
type budgetRecord struct {
	Runs  []stamp   `json:"runs"`
	Until time.Time `json:"until"` // when every run has left every window
}

// checkBudget refuses a run when any of the playbook's budget windows for
// the target is used up. Each event uses at most one slot per playbook ×
// target, however many steps it runs there.
func (g *Guard) checkBudget(tx state.Tx, prefix string, p *engine.Plan, target string, now time.Time, puts *[]put) (engine.Verdict, error) {
	budgets := p.Playbook.Budget
	if len(budgets) == 0 {
		return engine.Verdict{}, nil
	}
	var longest time.Duration
	for _, b := range budgets {
		longest = max(longest, b.Window)
	}
	bucket, k := prefix+nsBudget, p.Playbook.Name+"|"+target
	var rec budgetRecord
	if _, err := getJSON(tx, bucket, k, &rec); err != nil {
		return engine.Verdict{}, err
	}
	runs := rec.Runs[:0]
	for _, s := range rec.Runs {
		if s.Run == p.Event.ID && s.At.age(now) < longest {
			return engine.Verdict{}, nil // this event already holds its slot
		}
		if s.At.age(now) < longest {
			runs = append(runs, s)
		}
	}
	for _, b := range budgets {
		n := 0
		var oldest time.Time
		for _, s := range runs {
			if s.At.age(now) < b.Window {
				if n == 0 {
					oldest = s.At.Time()
				}
				n++
			}
		}
		if n >= b.Count {
			return refuse(ReasonBudgetExhausted, "budget %s of playbook %s for %s is used up (%d runs in the last %s); next slot at %s",
				b.Text, p.Playbook.Name, targetName(target), n, b.Window, oldest.Add(b.Window).UTC().Format(time.RFC3339)), nil
		}
	}
	runs = append(runs, stamp{At: toNanos(now), Run: p.Event.ID})
	*puts = append(*puts, put{bucket, k, mustJSON(budgetRecord{Runs: runs, Until: now.Add(longest)})})
	return engine.Verdict{}, nil
}

// globalRecord holds the runs counted by the global caps.
type globalRecord struct {
	Actions []stamp          `json:"actions,omitempty"`
	Targets map[string]nanos `json:"targets,omitempty"` // target → last run
}

// checkGlobal applies the global caps across every playbook: at most
// MaxActions.Count runs per MaxActions.Window, and at most MaxTargets.Count
// distinct targets per MaxTargets.Window (a target already acted on in the
// window does not count again).
func (g *Guard) checkGlobal(tx state.Tx, prefix string, p *engine.Plan, target string, now time.Time, puts *[]put) (engine.Verdict, error) {
	ma, mt := g.cfg.MaxActions, g.cfg.MaxTargets
	if ma.Count == 0 && mt.Count == 0 {
		return engine.Verdict{}, nil
	}
	bucket := prefix + nsGlobal
	var rec globalRecord
	if _, err := getJSON(tx, bucket, "caps", &rec); err != nil {
		return engine.Verdict{}, err
	}
	run := p.Event.ID + "|" + p.Playbook.Name + "|" + target
	counted := false
	actions := rec.Actions[:0]
	for _, s := range rec.Actions {
		if ma.Count > 0 && s.At.age(now) < ma.Window {
			actions = append(actions, s)
			counted = counted || s.Run == run
		}
	}
	if ma.Count > 0 && !counted && len(actions) >= ma.Count {
		return refuse(ReasonBudgetExhausted, "global cap of %d actions per %s is used up; next slot at %s",
			ma.Count, ma.Window, actions[0].At.Time().Add(ma.Window).UTC().Format(time.RFC3339)), nil
	}
	targets := make(map[string]nanos, len(rec.Targets)+1)
	var oldest nanos
	for t, at := range rec.Targets {
		if mt.Count > 0 && at.age(now) < mt.Window {
			targets[t] = at
			if oldest == 0 || at < oldest {
				oldest = at
			}
		}
	}
	if _, seen := targets[target]; mt.Count > 0 && !seen && len(targets) >= mt.Count {
		return refuse(ReasonBudgetExhausted, "global cap of %d distinct targets per %s is used up; %s would be a new one (next slot at %s)",
			mt.Count, mt.Window, targetName(target), oldest.Time().Add(mt.Window).UTC().Format(time.RFC3339)), nil
	}
	if counted {
		return engine.Verdict{}, nil
	}
	if ma.Count > 0 {
		actions = append(actions, stamp{At: toNanos(now), Run: run})
	}
	if mt.Count > 0 {
		targets[target] = toNanos(now)
	} else {
		targets = nil
	}
	*puts = append(*puts, put{bucket, "caps", mustJSON(globalRecord{Actions: actions, Targets: targets})})
	return engine.Verdict{}, nil
}

func targetName(t string) string {
	if t == "" {
		return "(no target)"
	}
	return t
}

// keep reports whether a window record must be kept at now.
func (r dedupeRecord) keep(now time.Time) bool { return now.Before(r.Until) }
func (r budgetRecord) keep(now time.Time) bool { return now.Before(r.Until) }
