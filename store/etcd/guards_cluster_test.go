package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// The guards are cluster-wide: two replicas (each its own store session
// on the same real 3-member etcd cluster, each its own engine and guard)
// share the dedupe windows, budgets, global caps, breakers and the kill
// switch, because every check reads and writes them in the etcd
// transaction that claims the step.

// targetAction records its runs per target (namespace/name) and per
// replica, and fails while fail says so.
type targetAction struct {
	mu    sync.Mutex
	runs  map[string]int // target → runs
	by    map[string]int // replica → runs
	fail  bool
	total int
	// busy is how long a run takes (a restart that waits for a rollout).
	busy time.Duration
}

func newTargetAction() *targetAction {
	return &targetAction{runs: map[string]int{}, by: map[string]int{}}
}

func (*targetAction) Spec() actions.Spec {
	return actions.Spec{ID: "test.restart", Description: "records runs per target", Params: []actions.Param{
		{Name: "name", Type: actions.String, Doc: "what to restart"},
		{Name: "namespace", Type: actions.String, Doc: "where"},
	}, Example: map[string]any{"name": "cart", "namespace": "shop"}}
}
func (*targetAction) Validate(map[string]any, bool) error { return nil }
func (*targetAction) Target(p map[string]any) actions.Target {
	return actions.Target{Kind: "Deployment", Namespace: actions.StringParam(p, "namespace", ""), Name: actions.StringParam(p, "name", "")}
}

func (a *targetAction) Run(ctx context.Context, r actions.Request) (actions.Result, error) {
	if a.busy > 0 {
		select {
		case <-time.After(a.busy):
		case <-ctx.Done():
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total++
	a.runs[actions.StringParam(r.Params, "namespace", "")+"/"+actions.StringParam(r.Params, "name", "")]++
	if a.fail {
		return actions.Result{}, errors.New("the restart failed")
	}
	return actions.Result{}, nil
}

func (a *targetAction) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

func (a *targetAction) setFail(f bool) {
	a.mu.Lock()
	a.fail = f
	a.mu.Unlock()
}

// guardReplica is one replica: its store session, engine and guard.
type guardReplica struct {
	s   *fbetcd.Store
	eng *engine.Engine
	g   *guard.Guard
}

// startGuardReplica runs the real engine and guard over s with the one
// playbook pb and the guard configuration gc (Store and Registry are
// filled in).
func startGuardReplica(t testing.TB, ctx context.Context, s *fbetcd.Store, act actions.Action, pb string, gc guard.Config, opts ...func(*engine.Config)) *guardReplica {
	t.Helper()
	reg := actions.NewRegistry()
	if err := reg.Register(act); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Parse(reg, "pb.yaml", []byte(pb))
	if err != nil {
		t.Fatal(err)
	}
	gc.Store, gc.Registry = s, reg
	g, err := guard.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	ec := engine.Config{Store: s, Registry: reg, Guard: g, Workers: 4}
	for _, o := range opts {
		o(&ec)
	}
	eng := engine.New(ec)
	eng.SetPlaybooks(set)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = eng.Run(ctx)
	}()
	t.Cleanup(func() { <-done })
	return &guardReplica{s: s, eng: eng, g: g}
}

// twoGuardReplicas starts replicas A and B on the shared cluster under
// t's prefix; they stop when the test ends, before their stores close.
func twoGuardReplicas(t *testing.T, act actions.Action, pb string, gc guard.Config) (a, b *guardReplica) {
	t.Helper()
	c := sharedCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	sa, sb := c.open(t, nil), c.open(t, nil)
	a = startGuardReplica(t, ctx, sa, act, pb, gc)
	b = startGuardReplica(t, ctx, sb, act, pb, gc)
	t.Cleanup(cancel) // runs first: the engines stop before the stores close
	return a, b
}

// send accepts ev on replica r and waits (at most 20 s) until the cluster
// has no unfinished event left.
func (r *guardReplica) send(t *testing.T, evs ...event.Event) {
	t.Helper()
	r.accept(t, evs...)
	waitDrained(t, r)
}

// accept accepts evs on r without waiting for them to be processed.
func (r *guardReplica) accept(t *testing.T, evs ...event.Event) {
	t.Helper()
	seqs, err := r.s.AppendEvents(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seqs {
		if s == 0 {
			t.Fatalf("event %s was not accepted", evs[i].ID)
		}
	}
	r.eng.Notify()
}

func waitDrained(t *testing.T, r *guardReplica) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for r.s.PendingCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still pending after 20s", r.s.PendingCount())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func crash(id, namespace, name string) event.Event {
	now := time.Now()
	return event.Event{ID: id, Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: id,
		Namespace: namespace, Labels: map[string]string{"app": name}, StartsAt: now, ReceivedAt: now}
}

// outcomes returns the step outcomes of event id, read through r: "ran"
// for a step.succeeded or step.failed, the refusal reason for a
// step.refused.
func (r *guardReplica) outcomes(t *testing.T, id string) []string {
	t.Helper()
	recs, err := r.s.AuditForEvent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rec := range recs {
		switch rec.Kind {
		case audit.KindStepSucceeded, audit.KindStepFailed:
			out = append(out, "ran")
		case audit.KindStepRefused:
			out = append(out, rec.Outcome)
		}
	}
	return out
}

const restartTemplate = `
steps:
  - action: test.restart
    with: { namespace: "{{ event.namespace }}", name: "{{ event.labels.app }}" }
`

// A dedupe key sent to replica A, then to replica B: B finds A's window
// and refuses; the action ran once.
func TestDedupeWindowAcrossReplicas(t *testing.T) {
	act := newTargetAction()
	a, b := twoGuardReplicas(t, act, `name: restart
match: 'event.name == "Crash"'
dedupe: { key: 'event.namespace + "/" + event.labels.app', window: 15m }`+restartTemplate, guard.Config{})
	a.send(t, crash("first", "shop", "cart"))
	b.send(t, crash("second", "shop", "cart"))
	b.send(t, crash("other-key", "shop", "checkout"))
	if got := a.outcomes(t, "first"); fmt.Sprint(got) != "[ran]" {
		t.Errorf("first (on A): %v, want [ran]", got)
	}
	if got := a.outcomes(t, "second"); fmt.Sprint(got) != "[deduped]" {
		t.Errorf("second (same key, on B): %v, want [deduped]", got)
	}
	if got := b.outcomes(t, "other-key"); fmt.Sprint(got) != "[ran]" {
		t.Errorf("other key (on B): %v, want [ran]", got)
	}
	if n := act.count(); n != 2 {
		t.Errorf("the action ran %d times, want 2 (one per dedupe key)", n)
	}
}

// A budget of 3 an hour per target is 3 in all, not 3 per replica: 12
// events for one target, accepted six by each replica at once, run the
// action three times.
func TestBudgetIsSharedAcrossReplicas(t *testing.T) {
	act := newTargetAction()
	a, b := twoGuardReplicas(t, act, `name: restart
match: 'event.name == "Crash"'
budget: "3/1h"`+restartTemplate, guard.Config{})
	var evA, evB []event.Event
	for i := range 6 {
		evA = append(evA, crash(fmt.Sprintf("a-%d", i), "shop", "cart"))
		evB = append(evB, crash(fmt.Sprintf("b-%d", i), "shop", "cart"))
	}
	a.accept(t, evA...)
	b.accept(t, evB...)
	waitDrained(t, a)
	ran, refused := 0, 0
	for _, ev := range append(evA, evB...) {
		for _, o := range a.outcomes(t, ev.ID) {
			switch o {
			case "ran":
				ran++
			case "budget_exhausted":
				refused++
			default:
				t.Errorf("%s: outcome %q", ev.ID, o)
			}
		}
	}
	if ran != 3 || refused != 9 || act.count() != 3 {
		t.Errorf("ran %d (action %d), budget_exhausted %d; want 3, 3, 9", ran, act.count(), refused)
	}
}

// The global cap guards.max_actions counts the runs of every replica: a
// cap of 4 an hour lets 4 of 10 events (distinct targets) run in all.
func TestGlobalCapIsSharedAcrossReplicas(t *testing.T) {
	act := newTargetAction()
	a, b := twoGuardReplicas(t, act, `name: restart
match: 'event.name == "Crash"'`+restartTemplate, guard.Config{MaxActions: guard.Rate{Count: 4, Window: time.Hour}})
	var evA, evB []event.Event
	for i := range 5 {
		evA = append(evA, crash(fmt.Sprintf("a-%d", i), "shop", fmt.Sprintf("svc-a%d", i)))
		evB = append(evB, crash(fmt.Sprintf("b-%d", i), "shop", fmt.Sprintf("svc-b%d", i)))
	}
	a.accept(t, evA...)
	b.accept(t, evB...)
	waitDrained(t, b)
	ran, refused := 0, 0
	for _, ev := range append(evA, evB...) {
		for _, o := range b.outcomes(t, ev.ID) {
			switch o {
			case "ran":
				ran++
			case "budget_exhausted":
				refused++
			default:
				t.Errorf("%s: outcome %q", ev.ID, o)
			}
		}
	}
	if ran != 4 || refused != 6 || act.count() != 4 {
		t.Errorf("ran %d (action %d), budget_exhausted %d; want 4, 4, 6", ran, act.count(), refused)
	}
}

// Two failures on replica A open the breaker of playbook × target; B
// sees it open: its event for the target is refused breaker_open and the
// action does not run, and B's guard reports the breaker open. Another
// target still runs on B.
func TestBreakerOpenedOnOneReplicaIsOpenOnTheOther(t *testing.T) {
	act := newTargetAction()
	a, b := twoGuardReplicas(t, act, `name: restart
match: 'event.name == "Crash"'
breaker: { failures: 2, window: 30m, cooldown: 1h }`+restartTemplate, guard.Config{})
	act.setFail(true)
	a.send(t, crash("fail-1", "shop", "cart"))
	a.send(t, crash("fail-2", "shop", "cart"))
	act.setFail(false)
	b.send(t, crash("after", "shop", "cart"))
	b.send(t, crash("elsewhere", "shop", "checkout"))
	for id, want := range map[string]string{"fail-1": "[ran]", "fail-2": "[ran]", "after": "[breaker_open]", "elsewhere": "[ran]"} {
		if got := b.outcomes(t, id); fmt.Sprint(got) != want {
			t.Errorf("%s: %v, want %s", id, got, want)
		}
	}
	if n := act.count(); n != 3 {
		t.Errorf("the action ran %d times, want 3 (two failures on A, the other target on B)", n)
	}
	brs, err := b.g.Breakers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	open := 0
	for _, br := range brs {
		if br.State == "open" {
			open++
		}
	}
	if open != 1 {
		t.Errorf("B's guard reports %d open breakers, want 1: %+v", open, brs)
	}
}

// Protected namespaces hold on every replica: an event for kube-system is
// refused on A and on B, an event for shop runs.
func TestProtectedTargetsOnEveryReplica(t *testing.T) {
	act := newTargetAction()
	a, b := twoGuardReplicas(t, act, `name: restart
match: 'event.name == "Crash"'`+restartTemplate, guard.Config{ProtectedNamespaces: []string{"kube-*"}})
	a.send(t, crash("on-a", "kube-system", "coredns"))
	b.send(t, crash("on-b", "kube-public", "x"))
	b.send(t, crash("shop", "shop", "cart"))
	for id, want := range map[string]string{"on-a": "[protected]", "on-b": "[protected]", "shop": "[ran]"} {
		if got := a.outcomes(t, id); fmt.Sprint(got) != want {
			t.Errorf("%s: %v, want %s", id, got, want)
		}
	}
	if n := act.count(); n != 1 {
		t.Errorf("the action ran %d times, want 1", n)
	}
}

// The kill switch: paused through A's guard, an event that arrives at B
// is refused as paused at once (B reads the pause in the transaction that
// would claim the step; it keeps no copy that could be stale), and B's
// watch of the guard's control bucket fires; after the resume on A, B
// runs the next event.
func TestPauseOnOneReplicaRefusesOnTheOther(t *testing.T) {
	act := newTargetAction()
	a, b := twoGuardReplicas(t, act, `name: restart
match: 'event.name == "Crash"'`+restartTemplate, guard.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := b.s.WatchBucket(ctx, "guard_control")
	if _, err := a.g.Pause(ctx, "oncall", "incident 42"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-watch:
	case <-time.After(5 * time.Second):
		t.Fatal("B's watch of guard_control did not fire within 5s of the pause on A")
	}
	st, err := b.g.PauseStatus(ctx)
	if err != nil || !st.Paused || st.By != "oncall" {
		t.Fatalf("B's pause status = %+v, %v; want paused by oncall", st, err)
	}
	b.send(t, crash("while-paused", "shop", "cart"))
	if got := b.outcomes(t, "while-paused"); fmt.Sprint(got) != "[paused]" {
		t.Errorf("event at B while A paused: %v, want [paused]", got)
	}
	if _, err := a.g.Resume(ctx, "oncall"); err != nil {
		t.Fatal(err)
	}
	b.send(t, crash("after-resume", "shop", "cart"))
	if got := b.outcomes(t, "after-resume"); fmt.Sprint(got) != "[ran]" {
		t.Errorf("event at B after the resume on A: %v, want [ran]", got)
	}
	if n := act.count(); n != 1 {
		t.Errorf("the action ran %d times, want 1", n)
	}
}
