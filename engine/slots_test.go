package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
)

// gateAction blocks every run until release is closed, and keeps the
// most runs it saw under way at once.
type gateAction struct {
	countAction
	release chan struct{}
	mu      sync.Mutex
	cur     int
	most    int
}

func (a *gateAction) Run(ctx context.Context, _ actions.Request) (actions.Result, error) {
	a.runs.Add(1)
	a.mu.Lock()
	a.cur++
	a.most = max(a.most, a.cur)
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.cur--
		a.mu.Unlock()
	}()
	select {
	case <-a.release:
		return actions.Result{Summary: "ran"}, nil
	case <-ctx.Done():
		return actions.Result{}, ctx.Err()
	}
}

func (a *gateAction) counts() (cur, most int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur, a.most
}

// TestMaxActionsBoundsTheRunsUnderWay: with many workers holding events
// whose step is due, no more than MaxActions runs are under way at once;
// the others wait for a slot and all run once it frees.
func TestMaxActionsBoundsTheRunsUnderWay(t *testing.T) {
	const events, workers, slots = 12, 12, 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &clock{now: t0}
	db := openStore(t, clk)
	act := &gateAction{release: make(chan struct{})}
	set, reg := parseSet(t, act, stalePlaybook)
	eng := engine.New(engine.Config{Store: db, Registry: reg, Now: clk.Now, Workers: workers, MaxActions: slots})
	eng.SetPlaybooks(set)
	if _, err := db.AppendEvents(ctx, crashEvents(events)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	eng.Notify()

	deadline := time.Now().Add(10 * time.Second)
	for {
		if cur, _ := act.counts(); cur >= slots {
			break
		}
		if time.Now().After(deadline) {
			cur, _ := act.counts()
			t.Fatalf("%d runs under way after 10s, want %d", cur, slots)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The other workers' events are loaded and their steps due: give them
	// time to start runs they should not start.
	time.Sleep(300 * time.Millisecond)
	if _, most := act.counts(); most > slots {
		t.Fatalf("%d runs were under way at once, want at most %d (MaxActions)", most, slots)
	}
	close(act.release)
	for eng.Processed() < events {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("processed %d of %d events after the slots freed", eng.Processed(), events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := act.runs.Load(); got != events {
		t.Errorf("the step ran %d times, want %d", got, events)
	}
	if _, most := act.counts(); most != slots {
		t.Errorf("at most %d runs were under way, want %d", most, slots)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
