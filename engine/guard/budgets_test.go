package guard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
)

// budgets reads the budgets at the harness clock's now through a View of
// the real store.
func (h *harness) budgets(set *playbooks.Set) []guard.BudgetStatus {
	h.t.Helper()
	var out []guard.BudgetStatus
	err := h.db.View(context.Background(), func(tx state.Tx) error {
		var err error
		out, err = h.g.ReadBudgets(tx, set, tx.Now())
		return err
	})
	if err != nil {
		h.t.Fatalf("read budgets: %v", err)
	}
	return out
}

// summary writes budgets compactly: scope playbook target then, per
// window, budget used/limit remaining next_free (as an offset from t0).
func summary(bs []guard.BudgetStatus, t0 time.Time) string {
	var parts []string
	for _, b := range bs {
		s := b.Scope
		if b.Playbook != "" {
			s += " " + b.Playbook + " " + b.Target
		}
		for _, w := range b.Windows {
			s += fmt.Sprintf(" [%s %d/%d left %d", w.Budget, w.Used, w.Limit, w.Remaining)
			if w.NextFree != nil {
				s += " free " + w.NextFree.Sub(t0).String()
			}
			s += "]"
		}
		s += fmt.Sprintf(" =%d", b.Remaining)
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// TestReadBudgetsAtWindowEdges counts used and remaining slots at the
// exact edges of the windows, and checks each reading against what Check
// then decides for a new event: no slot left means refused.
func TestReadBudgetsAtWindowEdges(t *testing.T) {
	h := newHarness(t, guard.Config{}, budgetPlaybook)
	t0 := h.clk.Now()
	cart := "Deployment/shop/cart"
	steps := []struct {
		advance time.Duration // before reading
		want    string        // the summary of the "target" entry of p on cart
		run     string        // then check a new event with this id ("" checks none)
	}{
		{0, "", "e1"},
		{time.Minute, "target p " + cart + " [2/1h 1/2 left 1 free 1h0m0s] [3/24h 1/3 left 2 free 24h0m0s] =1", "e2"},
		{0, "target p " + cart + " [2/1h 2/2 left 0 free 1h0m0s] [3/24h 2/3 left 1 free 24h0m0s] =0", "x1"},
		// One nanosecond before e1 is an hour old it still counts.
		{time.Hour - time.Minute - time.Nanosecond, "target p " + cart + " [2/1h 2/2 left 0 free 1h0m0s] [3/24h 2/3 left 1 free 24h0m0s] =0", "x2"},
		// At exactly an hour it no longer does, as in Check.
		{time.Nanosecond, "target p " + cart + " [2/1h 1/2 left 1 free 1h1m0s] [3/24h 2/3 left 1 free 24h0m0s] =1", "e3"},
		// The 24h window is now the tighter one.
		{time.Minute, "target p " + cart + " [2/1h 1/2 left 1 free 2h0m0s] [3/24h 3/3 left 0 free 24h0m0s] =0", "x3"},
		{23*time.Hour - time.Minute - time.Nanosecond, "target p " + cart + " [2/1h 0/2 left 2] [3/24h 3/3 left 0 free 24h0m0s] =0", "x4"},
		{time.Nanosecond, "target p " + cart + " [2/1h 0/2 left 2] [3/24h 2/3 left 1 free 24h1m0s] =1", "e4"},
	}
	for i, s := range steps {
		h.clk.Advance(s.advance)
		var got []guard.BudgetStatus
		for _, b := range h.budgets(h.set) {
			if b.Scope == guard.BudgetScopeTarget && b.Playbook == "p" {
				got = append(got, b)
			}
		}
		if sum := summary(got, t0); sum != s.want {
			t.Fatalf("step %d at t0+%s:\n got %s\nwant %s", i, h.clk.Now().Sub(t0), sum, s.want)
		}
		if s.run == "" {
			continue
		}
		v := h.check(h.plan("p", engine.PhaseSteps, 0, ev(s.run, "shop/cart"), false))
		left := len(got) == 0 || got[0].Remaining > 0
		if v.Allowed() != left {
			t.Fatalf("step %d: the reader says %d left but Check %s (%s)", i, got[0].Remaining, v.Reason, v.Message)
		}
		if wantAllowed := !strings.HasPrefix(s.run, "x"); v.Allowed() != wantAllowed {
			t.Fatalf("step %d: event %s allowed = %v", i, s.run, v.Allowed())
		}
	}
}

// TestReadBudgetsScopes lists the global caps, per-target entries and a
// playbook without runs, and leaves out dry runs and unloaded playbooks.
func TestReadBudgetsScopes(t *testing.T) {
	cfg := guard.Config{MaxActions: guard.Rate{Count: 5, Window: 10 * time.Minute}, MaxTargets: guard.Rate{Count: 2, Window: time.Hour}}
	h := newHarness(t, cfg, budgetPlaybook)
	t0 := h.clk.Now()
	if got, want := summary(h.budgets(h.set), t0), "max_actions [5/10m 0/5 left 5] =5; max_targets [2/1h 0/2 left 2] =2; "+
		"playbook p  [2/1h 0/2 left 2] [3/24h 0/3 left 3] =2; playbook notify-only  [1/1h 0/1 left 1] =1"; got != want {
		t.Fatalf("before any run:\n got %s\nwant %s", got, want)
	}
	play(t, h, []act{
		{ev: ev("e1", "shop/cart")},
		{advance: time.Minute, ev: ev("e2", "shop/api")},
		{ev: ev("e2", "shop/api"), step: 1},                           // the same run: no new slot anywhere
		{ev: ev("d1", "shop/web"), dry: true},                         // shadow state only
		{ev: ev("e3", "shop/web"), want: guard.ReasonBudgetExhausted}, // a third distinct target
		{advance: time.Minute, ev: ev("e4", "shop/cart")},
	})
	got := summary(h.budgets(h.set), t0)
	want := "max_actions [5/10m 3/5 left 2 free 10m0s] =2; max_targets [2/1h 2/2 left 0 free 1h1m0s] =0; " +
		"target p Deployment/shop/api [2/1h 1/2 left 1 free 1h1m0s] [3/24h 1/3 left 2 free 24h1m0s] =1; " +
		"target p Deployment/shop/cart [2/1h 2/2 left 0 free 1h0m0s] [3/24h 2/3 left 1 free 24h0m0s] =0; " +
		"playbook notify-only  [1/1h 0/1 left 1] =1"
	if got != want {
		t.Fatalf("after the runs:\n got %s\nwant %s", got, want)
	}
	// A set without p (a reload removed it) shows none of p's runs; a nil
	// set shows only the global caps.
	other, err := playbooks.Parse(h.reg, "other.yaml", []byte("name: notify-only\nmatch: 'true'\nbudget: [\"4/2h\"]\nsteps:\n  - action: webhook.notify\n    with: { url: \"http://hooks.example/x\" }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(h.budgets(other), t0), "max_actions [5/10m 3/5 left 2 free 10m0s] =2; max_targets [2/1h 2/2 left 0 free 1h1m0s] =0; playbook notify-only  [4/2h 0/4 left 4] =4"; got != want {
		t.Fatalf("with another set:\n got %s\nwant %s", got, want)
	}
	if got, want := summary(h.budgets(nil), t0), "max_actions [5/10m 3/5 left 2 free 10m0s] =2; max_targets [2/1h 2/2 left 0 free 1h1m0s] =0"; got != want {
		t.Fatalf("with no set:\n got %s\nwant %s", got, want)
	}
	// Everything leaves its window: the playbook is back to its whole
	// budget, the caps to empty, before any sweep removed the records.
	h.clk.Advance(25 * time.Hour)
	if got, want := summary(h.budgets(h.set), t0), "max_actions [5/10m 0/5 left 5] =5; max_targets [2/1h 0/2 left 2] =2; "+
		"playbook p  [2/1h 0/2 left 2] [3/24h 0/3 left 3] =2; playbook notify-only  [1/1h 0/1 left 1] =1"; got != want {
		t.Fatalf("a day later:\n got %s\nwant %s", got, want)
	}
	// The ctx form reads the same after a restart, from the file.
	h.restart()
	bs, err := h.g.Budgets(context.Background(), h.set)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(bs, t0), summary(h.budgets(h.set), t0); got != want {
		t.Fatalf("Budgets = %s, ReadBudgets = %s", got, want)
	}
}
