package etcd_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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

const dedupePlaybook = `name: restart
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
