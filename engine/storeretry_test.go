package engine_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

var errDiskFull = errors.New("write: no space left on device")

// failingCommits is the real store with its commits failing while failing
// is above zero: the edge of the unit, as a full disk looks to the engine.
type failingCommits struct {
	*store.DB
	failing atomic.Int32
	failed  atomic.Int32
}

func (f *failingCommits) Update(ctx context.Context, fn func(state.Tx) error) error {
	if f.failing.Add(-1) >= 0 {
		f.failed.Add(1)
		return errDiskFull
	}
	return f.DB.Update(ctx, fn)
}

// TestEventIsRetriedAfterStoreErrors: an event whose processing hits store
// errors is tried again with backoff, and runs once commits work again —
// without a restart. Today the dispatcher's cursor has moved past it, so
// it stays pending until the next start.
func TestEventIsRetriedAfterStoreErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &clock{now: t0}
	db := openStore(t, clk)
	st := &failingCommits{DB: db}
	st.failing.Store(5)
	act := &countAction{}
	set, reg := parseSet(t, act, stalePlaybook)
	var mu sync.Mutex
	var delays []time.Duration
	eng := engine.New(engine.Config{Store: st, Registry: reg, Now: clk.Now, Workers: 2,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			delays = append(delays, d)
			mu.Unlock()
			return ctx.Err()
		}})
	eng.SetPlaybooks(set)
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()

	seqs, err := db.AppendEvents(ctx, []event.Event{{ID: "e1", Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: "fp", StartsAt: t0, ReceivedAt: t0}})
	if err != nil {
		t.Fatal(err)
	}
	eng.Notify()
	// Wait for the outcome, not for a time: the test fails if the event
	// is never processed.
	deadline := time.Now().Add(10 * time.Second)
	for eng.Processed() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if eng.Processed() != 1 {
		t.Fatalf("processed %d events after %d failed commits, want 1", eng.Processed(), st.failed.Load())
	}
	if got := act.runs.Load(); got != 1 {
		t.Errorf("the step ran %d times, want exactly once", got)
	}
	pending, err := db.Pending(context.Background(), 0, 10)
	if err != nil || len(pending) != 0 || seqs[0] == 0 {
		t.Errorf("pending after recovery = %v, %v; want none", pending, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delays) != 5 {
		t.Errorf("waited %d times (%v), want once per failed commit (5)", len(delays), delays)
	}
	for i, d := range delays {
		if d <= 0 || d > time.Minute {
			t.Errorf("delay %d = %v, want within (0, 1m]", i, d)
		}
	}
}

// failingLoads is the real store with its event loads failing while
// failing is above zero.
type failingLoads struct {
	*store.DB
	failing atomic.Int32
}

func (f *failingLoads) Event(ctx context.Context, seq uint64) (event.Event, error) {
	if f.failing.Add(-1) >= 0 {
		return event.Event{}, errDiskFull
	}
	return f.DB.Event(ctx, seq)
}

// TestEventIsRetriedAfterALoadError: an event the dispatcher could not
// load is loaded again once its backoff (on the engine's clock) has
// passed, instead of being skipped by the cursor until a restart.
func TestEventIsRetriedAfterALoadError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &clock{now: t0}
	db := openStore(t, clk)
	st := &failingLoads{DB: db}
	st.failing.Store(2)
	act := &countAction{}
	set, reg := parseSet(t, act, stalePlaybook)
	eng := engine.New(engine.Config{Store: st, Registry: reg, Now: clk.Now})
	eng.SetPlaybooks(set)
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	if _, err := db.AppendEvents(ctx, []event.Event{{ID: "e1", Source: "am", Name: "Crash", Status: event.StatusFiring, StartsAt: t0, ReceivedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for eng.Processed() == 0 && time.Now().Before(deadline) {
		// Move the engine's clock past any backoff and wake the dispatcher.
		clk.Set(clk.Now().Add(2 * time.Minute))
		eng.Notify()
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if eng.Processed() != 1 || act.runs.Load() != 1 {
		t.Fatalf("processed %d, ran %d after load errors; want 1 and 1", eng.Processed(), act.runs.Load())
	}
}
