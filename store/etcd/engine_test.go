package etcd_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/playbooks"
	fbetcd "github.com/firebreak/firebreak/store/etcd"
)

// countAction counts its runs across every replica.
type countAction struct{ runs atomic.Int32 }

func (*countAction) Spec() actions.Spec {
	return actions.Spec{ID: "test.restart", Description: "counts runs", Params: []actions.Param{
		{Name: "name", Type: actions.String, Doc: "what to restart"},
	}, Example: map[string]any{"name": "cart"}}
}
func (*countAction) Validate(map[string]any, bool) error { return nil }
func (*countAction) Target(p map[string]any) actions.Target {
	return actions.Target{Kind: "Deployment", Namespace: "shop", Name: actions.StringParam(p, "name", "")}
}
func (a *countAction) Run(context.Context, actions.Request) (actions.Result, error) {
	a.runs.Add(1)
	return actions.Result{}, nil
}

var dedupePlaybook = `name: restart
description: restart the cart, once per window
match: 'event.name == "Crash"'
dedupe: { key: '"shop/cart"', window: 15m }
steps:
  - action: test.restart
    with: { name: cart }
`

// replica is one Firebreak replica's engine over its etcd store.
type replica struct {
	s   *fbetcd.Store
	eng *engine.Engine
}

func startReplica(t *testing.T, ctx context.Context, s *fbetcd.Store, act *countAction) *replica {
	t.Helper()
	return startReplicaWith(t, ctx, s, act)
}

func startReplicaWith(t *testing.T, ctx context.Context, s *fbetcd.Store, act actions.Action) *replica {
	t.Helper()
	reg := actions.NewRegistry()
	if err := reg.Register(act); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Parse(reg, "pb.yaml", []byte(dedupePlaybook))
	if err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(guard.Config{Store: s, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{Store: s, Registry: reg, Guard: g, Workers: 4})
	eng.SetPlaybooks(set)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = eng.Run(ctx)
	}()
	go func() {
		for {
			select {
			case <-s.Takeovers():
				eng.Notify()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { <-done })
	return &replica{s: s, eng: eng}
}

// The real engine and guard run on two replicas of one cluster: 30
// events of one dedupe key, accepted half by each, run the action once in
// all; every event is processed once; the events a third replica accepted
// and never processed (it died) are taken over and processed; the trail
// verifies.
func TestEngineOverTwoReplicas(t *testing.T) {
	c := sharedCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	act := &countAction{}
	reps := []*replica{
		startReplica(t, ctx, c.open(t, nil), act),
		startReplica(t, ctx, c.open(t, nil), act),
	}
	t.Cleanup(cancel) // runs before the stores close: the engines stop first
	mk := func(id string) event.Event {
		return event.Event{ID: id, Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: id, StartsAt: time.Now(), ReceivedAt: time.Now()}
	}
	for i := range 30 {
		r := reps[i%2]
		if _, err := r.s.AppendEvents(ctx, []event.Event{mk(fmt.Sprintf("ev-%02d", i))}); err != nil {
			t.Fatal(err)
		}
		r.eng.Notify()
	}
	// A third replica accepts five events and dies before processing them.
	dead := c.open(t, nil)
	for i := range 5 {
		if _, err := dead.AppendEvents(ctx, []event.Event{mk(fmt.Sprintf("orphan-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dead.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for reps[0].s.PendingCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still pending after 30s", reps[0].s.PendingCount())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := act.runs.Load(); n != 1 {
		t.Fatalf("the action ran %d times for one dedupe key across two replicas, want 1", n)
	}
	deduped := 0
	for i := range 35 {
		id := fmt.Sprintf("ev-%02d", i)
		if i >= 30 {
			id = fmt.Sprintf("orphan-%d", i-30)
		}
		recs, err := reps[1].s.AuditForEvent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		received := 0
		for _, r := range recs {
			switch {
			case r.Kind == audit.KindReceived:
				received++
			case r.Kind == audit.KindStepRefused && r.Outcome == "deduped":
				deduped++
			}
		}
		if received != 1 {
			t.Errorf("%s: %d event.received records, want 1", id, received)
		}
	}
	if deduped != 34 {
		t.Errorf("%d steps refused as deduped, want the other 34", deduped)
	}
	if _, err := reps[0].s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

// blockingAction signals when it starts and returns when released.
type blockingAction struct {
	countAction
	started chan struct{}
	release chan struct{}
}

func (a *blockingAction) Run(ctx context.Context, r actions.Request) (actions.Result, error) {
	a.runs.Add(1)
	a.started <- struct{}{}
	select {
	case <-a.release:
	case <-ctx.Done():
	}
	return actions.Result{}, nil
}

// A replica dies while its step runs: the replica that takes the event
// over records step.interrupted and does not run the step again.
func TestAStepStartedOnADeadReplicaIsInterrupted(t *testing.T) {
	c := sharedCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	act := &blockingAction{started: make(chan struct{}, 1), release: make(chan struct{})}
	a := c.open(t, nil)
	startReplicaWith(t, ctx, a, act)
	seqs, err := a.AppendEvents(ctx, []event.Event{{ID: "crash-1", Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: "fp", StartsAt: time.Now(), ReceivedAt: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-act.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the step did not start on A")
	}
	// A dies mid-step: its session ends, its store is gone.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	b := c.open(t, nil)
	startReplicaWith(t, ctx, b, act)
	t.Cleanup(cancel)
	deadline := time.Now().Add(20 * time.Second)
	for b.PendingCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("event %d still pending on B after 20s", seqs[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("taken over and processed in %s", time.Since(t0))
	close(act.release)
	recs, err := b.AuditForEvent(ctx, "crash-1")
	if err != nil {
		t.Fatal(err)
	}
	var got []audit.Kind
	for _, r := range recs {
		got = append(got, r.Kind)
	}
	want := []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepStarted, audit.KindInterrupted}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records of the event = %v, want %v", got, want)
	}
	if n := act.runs.Load(); n != 1 {
		t.Fatalf("the step ran %d times, want once (on A)", n)
	}
}

// Fencing with the real engine: replica A's session lease is revoked
// through the etcd client while A's step runs (a partition, a long GC
// pause); replica B takes the event over and records the step
// interrupted. When A's step then returns, A has a new session, but its
// late outcome must not be committed: the step's claim carries the token
// of the session that started it, and the outcome's commit checks it.
func TestARevokedReplicaCannotCommitItsLateOutcome(t *testing.T) {
	c := sharedCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	act := &blockingAction{started: make(chan struct{}, 1), release: make(chan struct{})}
	a := c.open(t, nil)
	startReplicaWith(t, ctx, a, act)
	if _, err := a.AppendEvents(ctx, []event.Event{{ID: "late-1", Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: "fp-late", StartsAt: time.Now(), ReceivedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-act.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the step did not start on A")
	}
	raw := rawClient(t, c)
	old := a.FencingToken()
	member, err := raw.Get(ctx, c.prefix+"/members/"+a.Node())
	if err != nil || len(member.Kvs) != 1 {
		t.Fatalf("A's member key: %v", err)
	}
	if _, err := raw.Revoke(ctx, clientv3.LeaseID(member.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	b := c.open(t, nil)
	startReplicaWith(t, ctx, b, act)
	t.Cleanup(cancel) // runs first: the engines stop before the stores close
	deadline := time.Now().Add(20 * time.Second)
	for b.PendingCount() > 0 || a.FencingToken() == old {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %d events pending, A's token %d (was %d)", b.PendingCount(), a.FencingToken(), old)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(act.release) // A's step returns now, under A's new session
	kinds := func() []audit.Kind {
		recs, err := b.AuditForEvent(ctx, "late-1")
		if err != nil {
			t.Fatal(err)
		}
		var got []audit.Kind
		for _, r := range recs {
			got = append(got, r.Kind)
		}
		return got
	}
	// A commits (or is refused) right after its step returns; give a late
	// commit time to land before checking that there is none.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if slices.Contains(kinds(), audit.KindStepSucceeded) {
			break
		}
	}
	want := []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepStarted, audit.KindInterrupted}
	if got := kinds(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records of the event = %v, want %v (no late outcome from A)", got, want)
	}
	if n := act.runs.Load(); n != 1 {
		t.Fatalf("the step ran %d times, want once (on A)", n)
	}
	if _, err := b.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
