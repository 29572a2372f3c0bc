package etcd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
)

// A step held while paused (guards.on_pause: hold) is released on resume
// by every replica that learns of the resume; the claim must let one run
// it and the others leave it alone. Replica A releases the step and its
// action is running when replica B releases the held steps too: B must
// neither run it nor record it step.interrupted (A is alive and running
// it), and A's outcome must be committed: the event's records are
// received, matched, held, started, succeeded.
func TestAHeldStepReleasedOnTwoReplicasIsRecordedOnce(t *testing.T) {
	act := &blockingAction{started: make(chan struct{}, 2), release: make(chan struct{})}
	hold := func(c *engine.Config) { c.HoldPaused = true }
	a, b := twoGuardReplicasWith(t, act, `name: restart
match: 'event.name == "Crash"'
steps:
  - action: test.restart
    with: { name: cart }
`, hold)
	ctx := context.Background()
	if _, err := a.g.Pause(ctx, "oncall", "maintenance"); err != nil {
		t.Fatal(err)
	}
	a.send(t, crash("held-1", "shop", "cart"))
	if got := kindsOf(t, a, "held-1"); fmt.Sprint(got) != "[event.received playbook.matched step.held]" {
		t.Fatalf("records while paused: %v", got)
	}
	if _, err := a.g.Resume(ctx, "oncall"); err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	go func() { _, err := a.eng.ReleaseHeld(ctx); released <- err }()
	select {
	case <-act.started:
	case <-time.After(10 * time.Second):
		t.Fatal("A did not run the released step")
	}
	if _, err := b.eng.ReleaseHeld(ctx); err != nil {
		t.Logf("B's release: %v", err)
	}
	close(act.release)
	if err := <-released; err != nil {
		t.Errorf("A's release: %v", err)
	}
	want := "[event.received playbook.matched step.held step.started step.succeeded]"
	if got := kindsOf(t, b, "held-1"); fmt.Sprint(got) != want {
		t.Errorf("records of the event = %v, want %s", got, want)
	}
	if n := act.runs.Load(); n != 1 {
		t.Errorf("the step ran %d times, want 1", n)
	}
}

// twoGuardReplicasWith is twoGuardReplicas with engine options.
func twoGuardReplicasWith(t *testing.T, act *blockingAction, pb string, opts ...func(*engine.Config)) (a, b *guardReplica) {
	t.Helper()
	c := sharedCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	sa, sb := c.open(t, nil), c.open(t, nil)
	a = startGuardReplica(t, ctx, sa, act, pb, guard.Config{}, opts...)
	b = startGuardReplica(t, ctx, sb, act, pb, guard.Config{}, opts...)
	t.Cleanup(cancel)
	return a, b
}

func kindsOf(t *testing.T, r *guardReplica, id string) []audit.Kind {
	t.Helper()
	recs, err := r.s.AuditForEvent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Kind
	for _, rec := range recs {
		out = append(out, rec.Kind)
	}
	return out
}

// Thirty held steps released at once by two replicas (as every replica
// does when it sees the resume): each runs once and is recorded once; no
// replica declares interrupted a step the other is running.
func TestHeldStepsReleasedConcurrentlyByTwoReplicas(t *testing.T) {
	act := newTargetAction()
	act.busy = 20 * time.Millisecond // long enough for the other replica to find it started
	hold := func(c *engine.Config) { c.HoldPaused = true }
	c := sharedCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	pb := `name: restart
match: 'event.name == "Crash"'` + restartTemplate
	a := startGuardReplica(t, ctx, c.open(t, nil), act, pb, guard.Config{}, hold)
	b := startGuardReplica(t, ctx, c.open(t, nil), act, pb, guard.Config{}, hold)
	t.Cleanup(cancel)
	if _, err := a.g.Pause(ctx, "oncall", "maintenance"); err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		a.accept(t, crash(fmt.Sprintf("held-%02d", i), "shop", fmt.Sprintf("svc-%02d", i)))
	}
	waitDrained(t, a)
	if _, err := a.g.Resume(ctx, "oncall"); err != nil {
		t.Fatal(err)
	}
	gun := make(chan struct{})
	errs := make(chan error, 2)
	for _, r := range []*guardReplica{a, b} {
		go func() { <-gun; _, err := r.eng.ReleaseHeld(ctx); errs <- err }()
	}
	close(gun)
	for range 2 {
		if err := <-errs; err != nil {
			t.Logf("a release: %v", err)
		}
	}
	// A release that failed is retried on the engine's tick; wait for
	// every step to have an outcome or an interruption.
	deadline := time.Now().Add(15 * time.Second)
	bad := 0
	for i := range n {
		id := fmt.Sprintf("held-%02d", i)
		for {
			kinds := fmt.Sprint(kindsOf(t, a, id))
			if strings.Contains(kinds, "step.succeeded") || strings.Contains(kinds, "step.interrupted") || time.Now().After(deadline) {
				if kinds != "[event.received playbook.matched step.held step.started step.succeeded]" {
					t.Errorf("%s: %s", id, kinds)
					bad++
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if runs := act.count(); runs != n {
		t.Errorf("%d runs for %d held steps", runs, n)
	}
	if bad > 0 {
		t.Errorf("%d of %d held steps released by two replicas are misrecorded", bad, n)
	}
}
