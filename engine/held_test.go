package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/store"
)

// pausedRig is a real engine, guard and bbolt store with the kill switch
// on and one event processed while paused.
type pausedRig struct {
	db  *store.DB
	g   *guard.Guard
	eng *engine.Engine
	act *countAction
	clk *clock
	seq uint64
}

func newPausedRig(t *testing.T, hold bool) *pausedRig {
	t.Helper()
	ctx := context.Background()
	clk := &clock{now: t0}
	db := openStore(t, clk)
	act := &countAction{}
	set, reg := parseSet(t, act, stalePlaybook)
	g, err := guard.New(guard.Config{Store: db, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{Store: db, Registry: reg, Now: clk.Now, Guard: g, MaxEventAge: time.Hour, HoldPaused: hold})
	eng.SetPlaybooks(set)
	if _, err := g.Pause(ctx, "alice", "incident 42"); err != nil {
		t.Fatal(err)
	}
	ev := event.Event{ID: "e1", Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: "fp", StartsAt: t0, ReceivedAt: t0}
	seqs, err := db.AppendEvents(ctx, []event.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(time.Minute))
	if err := eng.Process(ctx, seqs[0]); err != nil {
		t.Fatal(err)
	}
	if n := act.runs.Load(); n != 0 {
		t.Fatalf("the step ran %d times while paused", n)
	}
	return &pausedRig{db: db, g: g, eng: eng, act: act, clk: clk, seq: seqs[0]}
}

func (r *pausedRig) release(t *testing.T) int {
	t.Helper()
	n, err := r.eng.ReleaseHeld(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOnPauseDrop: by default a step refused while paused is refused for
// good; resuming runs nothing.
func TestOnPauseDrop(t *testing.T) {
	r := newPausedRig(t, false)
	if ks := kinds(t, r.db, "e1"); !contains(ks, audit.KindStepRefused) || contains(ks, audit.KindStepHeld) {
		t.Fatalf("records %q, want step.refused and no step.held", ks)
	}
	if _, err := r.g.Resume(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if n := r.release(t); n != 0 || r.act.runs.Load() != 0 {
		t.Errorf("released %d, ran %d after resume; drop mode runs nothing", n, r.act.runs.Load())
	}
}

// TestOnPauseHold: with hold, the step is parked while paused, stays
// parked while the pause lasts, runs once on resume and never again.
func TestOnPauseHold(t *testing.T) {
	ctx := context.Background()
	r := newPausedRig(t, true)
	ks := kinds(t, r.db, "e1")
	if !contains(ks, audit.KindStepHeld) || contains(ks, audit.KindStepRefused) {
		t.Fatalf("records %q, want step.held and no step.refused", ks)
	}
	if n := r.release(t); n != 0 || r.act.runs.Load() != 0 {
		t.Fatalf("released %d, ran %d while still paused", n, r.act.runs.Load())
	}
	// Processing the event again (a crash before Finish) holds nothing twice.
	if err := r.eng.Process(ctx, r.seq); err != nil {
		t.Fatal(err)
	}
	if _, err := r.g.Resume(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := r.release(t); n != 1 || r.act.runs.Load() != 1 {
		t.Fatalf("released %d, ran %d after resume, want 1 and 1", n, r.act.runs.Load())
	}
	if n := r.release(t); n != 0 || r.act.runs.Load() != 1 {
		t.Errorf("a second release released %d, ran %d in all; want 0 and 1", n, r.act.runs.Load())
	}
	if err := r.eng.Process(ctx, r.seq); err != nil {
		t.Fatal(err)
	}
	if got := r.act.runs.Load(); got != 1 {
		t.Errorf("the step ran %d times after reprocessing, want 1", got)
	}
	if ks := kinds(t, r.db, "e1"); !contains(ks, audit.KindStepSucceeded) {
		t.Errorf("records %q, want step.succeeded", ks)
	}
}

// TestOnPauseHoldStale: a held step whose event aged past max_event_age
// by the time of the resume does not run; it is audited event.stale.
func TestOnPauseHoldStale(t *testing.T) {
	ctx := context.Background()
	r := newPausedRig(t, true)
	r.clk.Set(t0.Add(2 * time.Hour))
	if _, err := r.g.Resume(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := r.release(t); n != 1 {
		t.Fatalf("released %d, want 1", n)
	}
	if got := r.act.runs.Load(); got != 0 {
		t.Errorf("a stale held step ran %d times, want 0", got)
	}
	recs, err := r.db.AuditForEvent(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if last := recs[len(recs)-1]; last.Kind != audit.KindStale {
		t.Errorf("last record = %s/%s %q, want event.stale", last.Kind, last.Outcome, last.Message)
	}
	if n := r.release(t); n != 0 {
		t.Errorf("the stale step is still held: released %d", n)
	}
}

// TestOnPauseHoldRunReleases: the dispatcher releases held steps by
// itself once Notify follows a resume (as the resume endpoint does), and
// at start after a restart.
func TestOnPauseHoldRunReleases(t *testing.T) {
	r := newPausedRig(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.eng.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if _, err := r.g.Resume(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	r.eng.Notify()
	deadline := time.Now().Add(10 * time.Second)
	for r.act.runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := r.act.runs.Load(); got != 1 {
		t.Errorf("after resume and Notify the held step ran %d times, want 1", got)
	}
}
