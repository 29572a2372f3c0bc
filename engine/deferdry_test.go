package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

// flipGuard allows its first allow checks and refuses every later one:
// what a dedupe window taken by another event between a shadow step's
// view and its commit looks like to the step.
type flipGuard struct {
	allow  int32
	checks atomic.Int32
}

func (g *flipGuard) Check(state.Tx, *engine.Plan) (engine.Verdict, error) {
	if g.checks.Add(1) <= g.allow {
		return engine.Verdict{}, nil
	}
	return engine.Verdict{Reason: "deduped", Message: "would be refused (shadow): deduped"}, nil
}
func (*flipGuard) Observe(state.Tx, *engine.Plan, error) error { return nil }
func (*flipGuard) Resolved(state.Tx, *playbooks.Playbook, *event.Event) error {
	return nil
}

type countingObserver struct {
	refused, dryRuns atomic.Int32
}

func (*countingObserver) EventProcessed(string, int, time.Duration) {}
func (*countingObserver) PlaybookMatched(string)                    {}
func (o *countingObserver) StepFinished(_, outcome string, _ time.Duration) {
	if outcome == "dry_run" {
		o.dryRuns.Add(1)
	}
}
func (o *countingObserver) GuardRefused(string, string) { o.refused.Add(1) }

// processCrash appends a firing Crash event with id (its fingerprint too)
// and processes it.
func processCrash(t *testing.T, db *store.DB, eng *engine.Engine, id string) {
	t.Helper()
	ctx := context.Background()
	seqs, err := db.AppendEvents(ctx, []event.Event{{ID: id, Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: id, StartsAt: t0, ReceivedAt: t0}})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Process(ctx, seqs[0]); err != nil {
		t.Fatal(err)
	}
}

const shadowPlaybook = "name: p\ndescription: d\nmode: shadow\nmatch: 'event.name == \"Crash\"'\nsteps:\n  - action: test.restart\n    with: { name: cart }\n"

// TestDeferredDryRunDecidesAgainInItsCommit: a shadow step whose view
// decided a dry run but whose commit refuses it is recorded as refused —
// the refusal's claim and record, no dry-run record — and counted as a
// refusal, not a dry run.
func TestDeferredDryRunDecidesAgainInItsCommit(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	db := openStore(t, clk)
	act := &countAction{}
	set, reg := parseSet(t, act, shadowPlaybook)
	g := &flipGuard{allow: 1}
	obs := &countingObserver{}
	eng := engine.New(engine.Config{Store: db, Registry: reg, Now: clk.Now, Guard: g, Observer: obs})
	eng.SetPlaybooks(set)
	processCrash(t, db, eng, "e1")
	if n := g.checks.Load(); n != 2 {
		t.Fatalf("guard checked %d times, want 2 (the view, then the commit)", n)
	}
	want := []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepRefused}
	if got := kinds(t, db, "e1"); !equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	if r, d := obs.refused.Load(), obs.dryRuns.Load(); r != 1 || d != 0 {
		t.Errorf("observer counted %d refusals and %d dry runs, want 1 and 0", r, d)
	}
	var claim string
	if err := db.View(ctx, func(tx state.Tx) error {
		return tx.ForEach("steps", func(k string, v []byte) error {
			if strings.HasPrefix(k, "e1|p|") {
				claim = string(v)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(claim, `"refused"`) {
		t.Errorf("claim %q, want the refusal stored", claim)
	}
	if n := db.PendingCount(); n != 0 {
		t.Errorf("pending = %d, want 0", n)
	}
}

// newDedupeRig opens a store and an engine with the real guard and a
// shadow playbook whose dedupe window is keyed by the event's name; cfg
// gives the rest of the engine's configuration.
func newDedupeRig(t *testing.T, cfg engine.Config) (*store.DB, *countAction, *engine.Engine) {
	t.Helper()
	clk := &clock{now: t0}
	db := openStore(t, clk)
	act := &countAction{}
	set, reg := parseSet(t, act, "name: p\ndescription: d\nmode: shadow\nmatch: 'event.name == \"Crash\"'\ndedupe: { key: 'event.name', window: 15m }\nsteps:\n  - action: test.restart\n    with: { name: cart }\n")
	g, err := guard.New(guard.Config{Store: db, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Registry, cfg.Now, cfg.Guard = db, reg, clk.Now, g
	eng := engine.New(cfg)
	eng.SetPlaybooks(set)
	return db, act, eng
}

// TestShadowRefusalRunsNoDryRun: with the real guard, a shadow step its
// dedupe window refuses is refused before any dry run runs — a dry run
// may ask a remote system, and the window is there to spare it — and the
// step that ran first is dry-run once, counted once.
func TestShadowRefusalRunsNoDryRun(t *testing.T) {
	obs := &countingObserver{}
	db, act, eng := newDedupeRig(t, engine.Config{Observer: obs})
	processCrash(t, db, eng, "e1")
	processCrash(t, db, eng, "e2")
	if n := act.runs.Load(); n != 1 {
		t.Errorf("the action ran %d times, want 1 (the first event's dry run)", n)
	}
	if got, want := kinds(t, db, "e1"), []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepDryRun}; !equal(got, want) {
		t.Errorf("e1 records %q, want %q", got, want)
	}
	if got, want := kinds(t, db, "e2"), []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepRefused}; !equal(got, want) {
		t.Errorf("e2 records %q, want %q", got, want)
	}
	if r, d := obs.refused.Load(), obs.dryRuns.Load(); r != 1 || d != 1 {
		t.Errorf("observer counted %d refusals and %d dry runs, want 1 and 1", r, d)
	}
}

// TestShadowDedupeUnderConcurrency: many events sharing one dedupe key,
// processed at once by many workers with the real guard — the case where
// a shadow step's view and its commit can disagree. The window lets
// exactly one dry run through; every other event is recorded refused;
// each event has its received and matched records and exactly one
// outcome; no dry run is recorded that the window refused.
func TestShadowDedupeUnderConcurrency(t *testing.T) {
	const events = 60
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, act, eng := newDedupeRig(t, engine.Config{Workers: 32})
	evs := crashEvents(events)
	if _, err := db.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	eng.Notify()
	deadline := time.Now().Add(20 * time.Second)
	for db.PendingCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still pending", db.PendingCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	dry, refused := 0, 0
	for _, ev := range evs {
		got := kinds(t, db, ev.ID)
		if len(got) != 3 || got[0] != audit.KindReceived || got[1] != audit.KindMatched {
			t.Fatalf("event %s records %q, want received, matched and one outcome", ev.ID, got)
		}
		switch got[2] {
		case audit.KindStepDryRun:
			dry++
		case audit.KindStepRefused:
			refused++
		default:
			t.Fatalf("event %s outcome %q", ev.ID, got[2])
		}
	}
	if dry != 1 || refused != events-1 {
		t.Errorf("%d dry runs and %d refusals recorded, want 1 and %d", dry, refused, events-1)
	}
	if n := int(act.runs.Load()); n < dry {
		t.Errorf("the action ran %d times for %d recorded dry runs", n, dry)
	}
}

// failingUpdates is a store whose Update fails from the fail-th call on,
// as a process killed before that commit would leave the file.
type failingUpdates struct {
	*store.DB
	calls, fail int
}

func (f *failingUpdates) Update(ctx context.Context, fn func(state.Tx) error) error {
	f.calls++
	if f.calls >= f.fail {
		return errors.New("killed before this commit")
	}
	return f.DB.Update(ctx, fn)
}

// TestDryRunRecordedWithItsClaim: a shadow event with two steps whose
// finish never commits (the process died after the first step's commit)
// and is processed again after a restart ends with each dry run recorded
// exactly once. Before a dry run's claim committed with its record, the
// first step's claim was durable and its record not: the restart found
// the claim, took the step as done and never recorded its dry run.
func TestDryRunRecordedWithItsClaim(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	db := openStore(t, clk)
	act := &countAction{}
	set, reg := parseSet(t, act, "name: p\ndescription: d\nmode: shadow\nmatch: 'event.name == \"Crash\"'\nsteps:\n  - action: test.restart\n    with: { name: cart }\n  - action: test.restart\n    with: { name: web }\n")
	seqs, err := db.AppendEvents(ctx, []event.Event{{ID: "e1", Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: "e1", StartsAt: t0, ReceivedAt: t0}})
	if err != nil {
		t.Fatal(err)
	}
	dying := engine.New(engine.Config{Store: &failingUpdates{DB: db, fail: 2}, Registry: reg, Now: clk.Now})
	dying.SetPlaybooks(set)
	if err := dying.Process(ctx, seqs[0]); err == nil {
		t.Fatal("the event finished although its finish failed")
	}
	restarted := engine.New(engine.Config{Store: db, Registry: reg, Now: clk.Now})
	restarted.SetPlaybooks(set)
	if err := restarted.Process(ctx, seqs[0]); err != nil {
		t.Fatal(err)
	}
	want := []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepDryRun, audit.KindStepDryRun}
	if got := kinds(t, db, "e1"); !equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	if n := db.PendingCount(); n != 0 {
		t.Errorf("pending = %d, want 0", n)
	}
}
