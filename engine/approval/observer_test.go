package approval_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/event"
)

// decisions is an approval.Observer that keeps what it was told.
type decisions struct {
	mu  sync.Mutex
	got []string
}

func (d *decisions) ApprovalDecided(decision string, waited time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, fmt.Sprintf("%s after %s", decision, waited))
}

func (d *decisions) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.got
	d.got = nil
	return out
}

// TestObserverIsToldOfEachDecision: every way an approval is decided
// (approved, by one or two people; denied; expired by the sweeper or found
// expired by a click; cancelled by a resolve) reaches the Observer once,
// after its commit, with the wait from the request; a counted first vote
// and a refused click report nothing.
func TestObserverIsToldOfEachDecision(t *testing.T) {
	obs := &decisions{}
	h := newHarness(t, func(c *approval.Config) { c.Observer = obs })
	ev := func(id, fp string) *event.Event {
		e := firing(fp)
		e.ID = id
		return e
	}
	check := func(step string, want ...string) {
		t.Helper()
		if got := obs.take(); !slices.Equal(got, want) {
			t.Errorf("%s: observer got %q, want %q", step, got, want)
		}
	}

	approved := h.park(plan(ev("ev-1", "fp1"), 1, cartParams()))
	h.clock.Advance(2 * time.Minute)
	if err := h.decide(approved, approval.Approve, alice); err != nil {
		t.Fatal(err)
	}
	check("approve", "approved after 2m0s")
	if err := h.decide(approved, approval.Approve, bob); err == nil {
		t.Fatal("a second click on a decided approval was accepted")
	}
	check("refused click")

	denied := h.park(plan(ev("ev-2", "fp2"), 1, cartParams()))
	h.clock.Advance(time.Minute)
	if err := h.decide(denied, approval.Deny, bob); err != nil {
		t.Fatal(err)
	}
	check("deny", "denied after 1m0s")

	two := h.park(plan(ev("ev-3", "fp3"), 2, cartParams()))
	h.clock.Advance(time.Minute)
	if err := h.decide(two, approval.Approve, alice); err != nil {
		t.Fatal(err)
	}
	check("first of two votes")
	h.clock.Advance(time.Minute)
	if err := h.decide(two, approval.Approve, bob); err != nil {
		t.Fatal(err)
	}
	check("second of two votes", "approved after 2m0s")

	swept := h.park(plan(ev("ev-4", "fp4"), 1, cartParams()))
	h.clock.Advance(15 * time.Minute)
	if n, err := h.svc.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	check("sweep", "expired after 15m0s")
	_ = swept

	late := h.park(plan(ev("ev-5", "fp5"), 1, cartParams()))
	h.clock.Advance(15 * time.Minute)
	if err := h.decide(late, approval.Approve, alice); err == nil {
		t.Fatal("a click after expiry was accepted")
	}
	check("click after expiry", "expired after 15m0s")

	h.park(plan(ev("ev-6", "fp6"), 1, cartParams()))
	h.clock.Advance(3 * time.Minute)
	resolved := ev("ev-6-resolved", "fp6")
	resolved.Status = event.StatusResolved
	if err := h.svc.Cancel(context.Background(), resolved); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	check("cancel", "cancelled after 3m0s")
}
