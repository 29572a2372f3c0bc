package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
)

// Scopes of a BudgetStatus.
const (
	// BudgetScopeActions is the global cap guards.max_actions: acting runs
	// across every playbook.
	BudgetScopeActions = "max_actions"
	// BudgetScopeTargets is the global cap guards.max_targets: distinct
	// targets acted on across every playbook.
	BudgetScopeTargets = "max_targets"
	// BudgetScopeTarget is a playbook's budget on one target that has runs
	// in a window.
	BudgetScopeTarget = "target"
	// BudgetScopePlaybook is a playbook's budget with no run in any window
	// on any target: every target has the whole budget left.
	BudgetScopePlaybook = "playbook"
)

// BudgetWindow is one window of a budget as it stands: a run is counted
// while it is younger than Window, and the guard refuses a new run once
// Used reaches Limit.
type BudgetWindow struct {
	// Budget is the window as configured, such as "3/1h".
	Budget string `json:"budget"`
	// Window is its length, as a Go duration ("1h0m0s").
	Window string `json:"window"`
	Limit  int    `json:"limit"`
	// Used counts the runs (for max_targets: the distinct targets) inside
	// the window.
	Used int `json:"used"`
	// Remaining is Limit - Used, never below zero.
	Remaining int `json:"remaining"`
	// NextFree is when the oldest counted run leaves the window and frees
	// a slot; nil when nothing is counted.
	NextFree *time.Time `json:"next_free,omitempty"`
}

// BudgetStatus is one budget of the guards: a global cap, or a playbook's
// budget on a target (or on every target, while none has runs).
type BudgetStatus struct {
	// Scope is max_actions, max_targets, target or playbook.
	Scope string `json:"scope"`
	// Playbook and Target name a playbook budget; Target is the target's
	// name as in breakers and audit records ("" for an action without
	// one) and is empty for the scope playbook.
	Playbook string `json:"playbook,omitempty"`
	Target   string `json:"target"`
	// Windows are the budget's windows, in configured order.
	Windows []BudgetWindow `json:"windows"`
	// Remaining is the least Remaining of the windows: how many more runs
	// the budget allows now.
	Remaining int `json:"remaining"`
}

// Budgets reads every budget as it stands, in a View of the guard's
// store at the store's clock: the global caps, then the budgets of set's
// playbooks. See ReadBudgets.
func (g *Guard) Budgets(ctx context.Context, set *playbooks.Set) ([]BudgetStatus, error) {
	var out []BudgetStatus
	err := g.cfg.Store.View(ctx, func(tx state.Tx) error {
		var err error
		out, err = g.ReadBudgets(tx, set, tx.Now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read budgets: %w", err)
	}
	return out, nil
}

// ReadBudgets returns, at now, the global caps that are configured
// (max_actions, max_targets), then for each playbook of set that has a
// budget, one status per target with a run inside a window (by target),
// or a single status of scope playbook when no target has one. It counts
// exactly as Check does, from the live state only (dry runs keep their
// own), and only reads tx. Runs recorded for a playbook that is no longer
// loaded, or no longer has a budget, are left out: they cannot refuse
// anything. A nil set reads only the global caps.
func (g *Guard) ReadBudgets(tx state.Tx, set *playbooks.Set, now time.Time) ([]BudgetStatus, error) {
	out := []BudgetStatus{}
	global, err := g.readGlobal(tx, now)
	if err != nil {
		return nil, err
	}
	out = append(out, global...)
	if set == nil {
		return out, nil
	}
	byName := map[string]*playbooks.Playbook{}
	for _, p := range set.Playbooks {
		if len(p.Budget) > 0 {
			byName[p.Name] = p
		}
	}
	if len(byName) == 0 {
		return out, nil
	}
	perPlaybook := map[string][]BudgetStatus{}
	err = tx.ForEach(livePrefix+nsBudget, func(k string, v []byte) error {
		p, target, ok := splitBudgetKey(k, byName)
		if !ok {
			return nil
		}
		var rec budgetRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("guard state %s/%s: %w", livePrefix+nsBudget, k, err)
		}
		st := BudgetStatus{Scope: BudgetScopeTarget, Playbook: p.Name, Target: target}
		used := false
		for _, b := range p.Budget {
			w := countWindow(rec.Runs, b.Count, b.Window, now)
			w.Budget = b.Text
			used = used || w.Used > 0
			st.Windows = append(st.Windows, w)
		}
		if used {
			perPlaybook[p.Name] = append(perPlaybook[p.Name], st.withRemaining())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range set.Playbooks {
		if byName[p.Name] != p {
			continue
		}
		sts := perPlaybook[p.Name]
		if len(sts) == 0 {
			st := BudgetStatus{Scope: BudgetScopePlaybook, Playbook: p.Name}
			for _, b := range p.Budget {
				st.Windows = append(st.Windows, BudgetWindow{Budget: b.Text, Window: b.Window.String(), Limit: b.Count, Remaining: b.Count})
			}
			out = append(out, st.withRemaining())
			continue
		}
		sort.Slice(sts, func(i, j int) bool { return sts[i].Target < sts[j].Target })
		out = append(out, sts...)
	}
	return out, nil
}

// readGlobal reads the configured global caps.
func (g *Guard) readGlobal(tx state.Tx, now time.Time) ([]BudgetStatus, error) {
	ma, mt := g.cfg.MaxActions, g.cfg.MaxTargets
	if ma.Count == 0 && mt.Count == 0 {
		return nil, nil
	}
	var rec globalRecord
	if _, err := getJSON(tx, livePrefix+nsGlobal, "caps", &rec); err != nil {
		return nil, err
	}
	var out []BudgetStatus
	if ma.Count > 0 {
		w := countWindow(rec.Actions, ma.Count, ma.Window, now)
		w.Budget = rateText(ma)
		out = append(out, BudgetStatus{Scope: BudgetScopeActions, Windows: []BudgetWindow{w}}.withRemaining())
	}
	if mt.Count > 0 {
		stamps := make([]stamp, 0, len(rec.Targets))
		for _, at := range rec.Targets {
			stamps = append(stamps, stamp{At: at})
		}
		w := countWindow(stamps, mt.Count, mt.Window, now)
		w.Budget = rateText(mt)
		out = append(out, BudgetStatus{Scope: BudgetScopeTargets, Windows: []BudgetWindow{w}}.withRemaining())
	}
	return out, nil
}

// countWindow counts the stamps younger than window at now, as Check
// does: a stamp exactly window old no longer counts.
func countWindow(runs []stamp, limit int, window time.Duration, now time.Time) BudgetWindow {
	w := BudgetWindow{Window: window.String(), Limit: limit}
	var oldest nanos
	for _, s := range runs {
		if s.At.age(now) < window {
			w.Used++
			if oldest == 0 || s.At < oldest {
				oldest = s.At
			}
		}
	}
	w.Remaining = max(0, limit-w.Used)
	if w.Used > 0 {
		t := oldest.Time().Add(window).UTC()
		w.NextFree = &t
	}
	return w
}

func (s BudgetStatus) withRemaining() BudgetStatus {
	for i, w := range s.Windows {
		if i == 0 || w.Remaining < s.Remaining {
			s.Remaining = w.Remaining
		}
	}
	return s
}

// splitBudgetKey splits a budget key (playbook|target) at the first "|"
// that leaves a budgeted playbook's name on its left.
func splitBudgetKey(k string, byName map[string]*playbooks.Playbook) (*playbooks.Playbook, string, bool) {
	for i := 0; i < len(k); i++ {
		if k[i] != '|' {
			continue
		}
		if p, ok := byName[k[:i]]; ok {
			return p, k[i+1:], true
		}
	}
	return nil, "", false
}

// rateText writes a global cap as configured ("30/1m").
func rateText(r Rate) string { return fmt.Sprintf("%d/%s", r.Count, shortDuration(r.Window)) }

// shortDuration writes d without zero units: 1h, 90m → 1h30m, 30s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
