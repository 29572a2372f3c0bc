package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
)

const stalePlaybook = `
name: restart
description: d
match: event.name == "Crash"
steps:
  - action: test.restart
    with: { name: cart }
`

// TestStalenessIsJudgedWhenTheStepRuns: events accepted fresh but
// processed after the clock moved past max_event_age (a slow backlog, a
// stalled store, a restart) run no step and are audited event.stale;
// act_on_stale still runs them.
func TestStalenessIsJudgedWhenTheStepRuns(t *testing.T) {
	for _, tt := range []struct {
		name       string
		actOnStale bool
		later      time.Duration // clock at processing, after the alert started
		wantRuns   int32
		wantStale  bool
	}{
		{"processed fresh", false, 10 * time.Minute, 1, false},
		{"processed after max_event_age", false, 2 * time.Hour, 0, true},
		{"act_on_stale overrides", true, 2 * time.Hour, 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: t0}
			db := openStore(t, clk)
			act := &countAction{}
			set, reg := parseSet(t, act, stalePlaybook)
			eng := engine.New(engine.Config{Store: db, Registry: reg, Now: clk.Now, MaxEventAge: time.Hour, ActOnStale: tt.actOnStale})
			eng.SetPlaybooks(set)
			// Accepted fresh: the receiver did not mark it stale.
			ev := event.Event{ID: "e1", Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: "fp", StartsAt: t0, ReceivedAt: t0.Add(time.Minute)}
			seqs, err := db.AppendEvents(ctx, []event.Event{ev})
			if err != nil {
				t.Fatal(err)
			}
			clk.Set(t0.Add(tt.later))
			if err := eng.Process(ctx, seqs[0]); err != nil {
				t.Fatal(err)
			}
			if got := act.runs.Load(); got != tt.wantRuns {
				t.Errorf("the step ran %d times, want %d", got, tt.wantRuns)
			}
			ks := kinds(t, db, "e1")
			if got := contains(ks, audit.KindStale); got != tt.wantStale {
				t.Errorf("event.stale audited = %v, want %v (records %q)", got, tt.wantStale, ks)
			}
		})
	}
}

// TestStalenessIsJudgedAgainAfterApproval: a step parked for approval
// while the event was fresh does not run when the approval comes after the
// event aged past max_event_age; the refusal is audited event.stale.
func TestStalenessIsJudgedAgainAfterApproval(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	db := openStore(t, clk)
	act := &countAction{}
	set, reg := parseSet(t, act, stalePlaybook+"    approval: required\n")
	ap := &parkingApprover{}
	eng := engine.New(engine.Config{Store: db, Registry: reg, Now: clk.Now, MaxEventAge: time.Hour, Approver: ap})
	eng.SetPlaybooks(set)
	ev := event.Event{ID: "e1", Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: "fp", StartsAt: t0, ReceivedAt: t0}
	seqs, err := db.AppendEvents(ctx, []event.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Process(ctx, seqs[0]); err != nil {
		t.Fatal(err)
	}
	if ap.parked.Load() != 1 || act.runs.Load() != 0 {
		t.Fatalf("parked %d, ran %d: want the step parked, not run", ap.parked.Load(), act.runs.Load())
	}
	if ks := kinds(t, db, "e1"); contains(ks, audit.KindStale) {
		t.Fatalf("stale before the clock moved: %q", ks)
	}
	clk.Set(t0.Add(90 * time.Minute)) // the human approves late
	if err := eng.Continue(ctx, seqs[0], "restart", engine.PhaseSteps, 0, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := act.runs.Load(); got != 0 {
		t.Errorf("the approved step ran %d times on a stale event, want 0", got)
	}
	recs, err := db.AuditForEvent(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Kind != audit.KindStale || last.Playbook != "restart" || last.Step == nil || *last.Step != 0 {
		t.Errorf("last record = %+v, want event.stale for restart step 0", last)
	}
}
