package guard_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
)

// act is one moment of a scenario: move the clock, then check a step (and
// report its outcome) or resolve an alert.
type act struct {
	advance time.Duration
	pb      string // default "p"
	phase   string // default steps
	step    int
	ev      *event.Event
	dry     bool
	observe string        // "ok" or "fail": the step ran (only when allowed)
	resolve bool          // the alert of ev resolved instead
	want    engine.Reason // the expected refusal; "" allows
}

func play(t *testing.T, h *harness, acts []act) {
	t.Helper()
	for i, a := range acts {
		h.clk.Advance(a.advance)
		pb := a.pb
		if pb == "" {
			pb = "p"
		}
		if a.resolve {
			h.resolve(pb, a.ev)
			continue
		}
		phase := a.phase
		if phase == "" {
			phase = engine.PhaseSteps
		}
		p := h.plan(pb, phase, a.step, a.ev, a.dry)
		v := h.check(p)
		want(t, fmt.Sprintf("act %d (event %s step %d)", i, a.ev.ID, a.step), v, a.want)
		switch {
		case a.observe == "ok" && v.Allowed():
			h.observe(p, nil)
		case a.observe == "fail" && v.Allowed():
			h.observe(p, errBoom)
		}
	}
}

const dedupePlaybook = `
name: p
match: 'true'
dedupe: { key: 'event.labels.namespace + "/" + event.labels.deployment', window: 15m }
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
  - action: webhook.notify
    with: { url: "http://hooks.example/sre" }
on_resolved:
  - action: webhook.notify
    with: { url: "http://hooks.example/sre" }
`

func TestDedupe(t *testing.T) {
	cases := []struct {
		name string
		acts []act
	}{
		{"a second event with the same key inside the window is deduped", []act{
			{ev: ev("e1", "shop/cart")},
			{ev: ev("e2", "shop/cart"), want: guard.ReasonDeduped},
			{advance: 14 * time.Minute, ev: ev("e3", "shop/cart"), want: guard.ReasonDeduped},
		}},
		{"the event that opened the window runs all its steps", []act{
			{ev: ev("e1", "shop/cart"), step: 0},
			{ev: ev("e2", "shop/cart"), step: 0, want: guard.ReasonDeduped},
			{ev: ev("e1", "shop/cart"), step: 1},
			{advance: time.Minute, ev: ev("e1", "shop/cart"), step: 0}, // re-check after approval
		}},
		{"another key is not deduped", []act{
			{ev: ev("e1", "shop/cart")},
			{ev: ev("e2", "shop/api")},
			{ev: ev("e3", "shop/api"), want: guard.ReasonDeduped},
		}},
		{"after the window the key runs again and opens a new window", []act{
			{ev: ev("e1", "shop/cart")},
			{advance: 15 * time.Minute, ev: ev("e2", "shop/cart")},
			{advance: 14 * time.Minute, ev: ev("e3", "shop/cart"), want: guard.ReasonDeduped},
			{advance: time.Minute, ev: ev("e4", "shop/cart")},
		}},
		{"on_resolved steps are not deduped", []act{
			{ev: ev("e1", "shop/cart")},
			{ev: ev("e2", "shop/cart"), phase: engine.PhaseOnResolved},
		}},
		{"dry runs use their own window and leave the live one alone", []act{
			{ev: ev("d1", "shop/cart"), dry: true},
			{ev: ev("d2", "shop/cart"), dry: true, want: guard.ReasonDeduped},
			{ev: ev("e1", "shop/cart")},
			{ev: ev("e2", "shop/cart"), want: guard.ReasonDeduped},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			play(t, newHarness(t, guard.Config{}, dedupePlaybook), tc.acts)
		})
	}
}

const budgetPlaybook = `
name: p
match: 'true'
budget: ["2/1h", "3/24h"]
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}", replicas: 2 }
  - action: webhook.notify
    with: { url: "http://hooks.example/sre" }
---
name: notify-only
match: 'true'
budget: ["1/1h"]
steps:
  - action: webhook.notify
    with: { url: "http://{{ event.labels.deployment }}.hooks.example/run" }
  - action: webhook.notify
    with: { url: "http://hooks.example/sre" }
`

func TestBudgets(t *testing.T) {
	cases := []struct {
		name string
		acts []act
	}{
		{"the 1h window is used up and frees after an hour", []act{
			{ev: ev("e1", "shop/cart")},
			{advance: time.Minute, ev: ev("e2", "shop/cart")},
			{advance: time.Minute, ev: ev("e3", "shop/cart"), want: guard.ReasonBudgetExhausted},
			{advance: 58 * time.Minute, ev: ev("e4", "shop/cart")}, // e1 left the 1h window
		}},
		{"the 24h window holds when the 1h window is free", []act{
			{ev: ev("e1", "shop/cart")},
			{ev: ev("e2", "shop/cart")},
			{advance: time.Hour, ev: ev("e3", "shop/cart")},
			{advance: time.Hour, ev: ev("e4", "shop/cart"), want: guard.ReasonBudgetExhausted},
			{advance: 20 * time.Hour, ev: ev("e5", "shop/cart"), want: guard.ReasonBudgetExhausted},
			{advance: 2 * time.Hour, ev: ev("e6", "shop/cart")}, // e1 and e2 left the 24h window
		}},
		{"targets have their own budgets", []act{
			{ev: ev("e1", "shop/cart")},
			{ev: ev("e2", "shop/cart")},
			{ev: ev("e3", "shop/cart"), want: guard.ReasonBudgetExhausted},
			{ev: ev("e4", "shop/api")},
		}},
		{"one event takes one slot however many steps it runs", []act{
			{ev: ev("e1", "shop/cart"), step: 0},
			{ev: ev("e1", "shop/cart"), step: 1},
			{ev: ev("e1", "shop/cart"), step: 2}, // not acting: never budgeted
			{ev: ev("e2", "shop/cart"), step: 0},
			{ev: ev("e3", "shop/cart"), step: 0, want: guard.ReasonBudgetExhausted},
			{ev: ev("e2", "shop/cart"), step: 1}, // e2 holds its slot
		}},
		{"a playbook without destructive steps is budgeted on its first step", []act{
			{pb: "notify-only", ev: ev("e1", "shop/cart"), step: 0},
			{pb: "notify-only", ev: ev("e1", "shop/cart"), step: 1},
			{pb: "notify-only", ev: ev("e2", "shop/cart"), step: 0, want: guard.ReasonBudgetExhausted},
			{pb: "notify-only", ev: ev("e3", "shop/api"), step: 0},
		}},
		{"dry runs do not use the live budget", []act{
			{ev: ev("d1", "shop/cart"), dry: true},
			{ev: ev("d2", "shop/cart"), dry: true},
			{ev: ev("d3", "shop/cart"), dry: true, want: guard.ReasonBudgetExhausted},
			{ev: ev("e1", "shop/cart")},
			{ev: ev("e2", "shop/cart")},
			{ev: ev("e3", "shop/cart"), want: guard.ReasonBudgetExhausted},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			play(t, newHarness(t, guard.Config{}, budgetPlaybook), tc.acts)
		})
	}
}

const plainPlaybook = `
name: p
match: 'true'
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
  - action: webhook.notify
    with: { url: "http://hooks.example/sre" }
---
name: q
match: 'true'
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
`

func TestGlobalCaps(t *testing.T) {
	cases := []struct {
		name string
		cfg  guard.Config
		acts []act
	}{
		{"actions per minute across playbooks", guard.Config{MaxActions: guard.Rate{Count: 3, Window: time.Minute}}, []act{
			{ev: ev("e1", "shop/cart")},
			{ev: ev("e2", "shop/api")},
			{pb: "q", ev: ev("e2", "shop/api")},
			{ev: ev("e1", "shop/cart"), step: 1}, // not acting
			{ev: ev("e1", "shop/cart")},          // already counted
			{ev: ev("e3", "shop/web"), want: guard.ReasonBudgetExhausted},
			{advance: time.Minute, ev: ev("e4", "shop/web")},
		}},
		{"distinct targets per 10 minutes", guard.Config{MaxTargets: guard.Rate{Count: 2, Window: 10 * time.Minute}}, []act{
			{ev: ev("e1", "shop/cart")},
			{ev: ev("e2", "shop/api")},
			{ev: ev("e3", "shop/web"), want: guard.ReasonBudgetExhausted},
			{ev: ev("e4", "shop/cart")}, // a known target is not new
			{pb: "q", ev: ev("e5", "shop/api")},
			{advance: 5 * time.Minute, ev: ev("e6", "shop/cart")}, // renews cart
			{advance: 4 * time.Minute, ev: ev("e7", "shop/web"), want: guard.ReasonBudgetExhausted},
			{advance: time.Minute, ev: ev("e8", "shop/web")}, // api left the window
			{ev: ev("e9", "shop/api"), want: guard.ReasonBudgetExhausted},
		}},
		{"dry runs do not use the global caps", guard.Config{MaxTargets: guard.Rate{Count: 1, Window: 10 * time.Minute}}, []act{
			{ev: ev("d1", "shop/cart"), dry: true},
			{ev: ev("d2", "shop/api"), dry: true, want: guard.ReasonBudgetExhausted},
			{ev: ev("e1", "shop/api")},
			{ev: ev("e2", "shop/web"), want: guard.ReasonBudgetExhausted},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			play(t, newHarness(t, tc.cfg, plainPlaybook), tc.acts)
		})
	}
}

const breakerPlaybook = `
name: p
match: 'true'
breaker: { failures: 2, window: 30m, cooldown: 1h, verify: 10m }
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
---
name: nv
match: 'true'
breaker: { failures: 2, window: 30m, cooldown: 1h }
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
`

func TestBreaker(t *testing.T) {
	fp := func(id string) *event.Event { return withFP(ev(id, "shop/cart"), "flap") }
	cases := []struct {
		name   string
		acts   []act
		state  string // the breaker's state at the end
		opened int    // breaker.opened records
	}{
		{"closed → open on failures", []act{
			{ev: ev("e1", "shop/cart"), observe: "fail"},
			{ev: ev("e2", "shop/cart"), observe: "fail"},
			{ev: ev("e3", "shop/cart"), want: guard.ReasonBreakerOpen},
			{ev: ev("e4", "shop/api")}, // another target has its own breaker
			{advance: 59 * time.Minute, ev: ev("e5", "shop/cart"), want: guard.ReasonBreakerOpen},
		}, guard.StateOpen, 1},
		{"failures outside the window do not add up", []act{
			{ev: ev("e1", "shop/cart"), observe: "fail"},
			{advance: 30 * time.Minute, ev: ev("e2", "shop/cart"), observe: "fail"},
			{ev: ev("e3", "shop/cart")},
		}, guard.StateClosed, 0},
		{"closed → open on runs whose alert did not resolve", []act{
			{ev: ev("e1", "shop/cart"), observe: "ok"},
			{advance: 11 * time.Minute, ev: ev("e2", "shop/cart"), observe: "ok"}, // e1 unresolved: 1 of 2
			{advance: 11 * time.Minute, ev: ev("e3", "shop/cart"), want: guard.ReasonBreakerOpen},
		}, guard.StateOpen, 1},
		{"runs whose alert resolved in time do not count", []act{
			{ev: ev("e1", "shop/cart"), observe: "ok"},
			{advance: 2 * time.Minute, ev: ev("e1", "shop/cart"), resolve: true},
			{advance: 9 * time.Minute, ev: ev("e2", "shop/cart"), observe: "ok"},
			{advance: 3 * time.Minute, ev: ev("e2", "shop/cart"), resolve: true},
			{advance: 10 * time.Minute, ev: ev("e3", "shop/cart"), observe: "ok"},
		}, guard.StateClosed, 0},
		{"a flapping alert (resolves, fires again within verify) opens it", []act{
			{ev: fp("e1"), observe: "ok"},
			{advance: time.Minute, ev: fp("e1"), resolve: true},
			{advance: 4 * time.Minute, ev: fp("e2"), observe: "ok"}, // e1 recurred: 1 of 2
			{advance: time.Minute, ev: fp("e2"), resolve: true},
			{advance: 4 * time.Minute, ev: fp("e3"), want: guard.ReasonBreakerOpen},
		}, guard.StateOpen, 1},
		{"without verify only failures count", []act{
			{pb: "nv", ev: ev("e1", "shop/cart"), observe: "ok"},
			{pb: "nv", advance: 20 * time.Minute, ev: ev("e2", "shop/cart"), observe: "ok"},
			{pb: "nv", advance: 20 * time.Minute, ev: ev("e3", "shop/cart"), observe: "ok"},
		}, guard.StateClosed, 0},
		{"open → half-open trial → closed", []act{
			{ev: ev("e1", "shop/cart"), observe: "fail"},
			{ev: ev("e2", "shop/cart"), observe: "fail"},
			{advance: time.Hour, ev: ev("t1", "shop/cart")},            // the trial
			{ev: ev("e3", "shop/cart"), want: guard.ReasonBreakerOpen}, // only one trial
			{ev: ev("t1", "shop/cart"), observe: "ok"},                 // the trial's event passes again; succeeds
			{ev: ev("e4", "shop/cart"), observe: "fail"},               // closed, history forgotten: 1 of 2
			{ev: ev("e5", "shop/cart")},
		}, guard.StateClosed, 1},
		{"open → half-open trial fails → re-opened", []act{
			{ev: ev("e1", "shop/cart"), observe: "fail"},
			{ev: ev("e2", "shop/cart"), observe: "fail"},
			{advance: time.Hour, ev: ev("t1", "shop/cart"), observe: "fail"},
			{ev: ev("e3", "shop/cart"), want: guard.ReasonBreakerOpen},
			{advance: 59 * time.Minute, ev: ev("e4", "shop/cart"), want: guard.ReasonBreakerOpen},
			{advance: time.Minute, ev: ev("t2", "shop/cart"), observe: "ok"},
			{ev: ev("e5", "shop/cart")},
		}, guard.StateClosed, 2},
		{"a trial that never reports is replaced after a cooldown", []act{
			{ev: ev("e1", "shop/cart"), observe: "fail"},
			{ev: ev("e2", "shop/cart"), observe: "fail"},
			{advance: time.Hour, ev: ev("t1", "shop/cart")},
			{advance: 59 * time.Minute, ev: ev("t2", "shop/cart"), want: guard.ReasonBreakerOpen},
			{advance: time.Minute, ev: ev("t3", "shop/cart")},
		}, guard.StateHalfOpen, 1},
		{"dry runs see an open breaker but never move it", []act{
			{ev: ev("e1", "shop/cart"), observe: "fail"},
			{ev: ev("e2", "shop/cart"), observe: "fail"},
			{ev: ev("d1", "shop/cart"), dry: true, want: guard.ReasonBreakerOpen},
			{advance: time.Hour, ev: ev("d2", "shop/cart"), dry: true},
			{ev: ev("t1", "shop/cart")}, // the live trial is still available
		}, guard.StateHalfOpen, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, guard.Config{}, breakerPlaybook)
			play(t, h, tc.acts)
			bs, err := h.g.Breakers(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			state := guard.StateClosed
			for _, b := range bs {
				if b.Target == "Deployment/shop/cart" {
					state = b.State
				}
			}
			if state != tc.state {
				t.Errorf("breaker state = %s, want %s (%+v)", state, tc.state, bs)
			}
			if n := len(h.records(guard.KindBreakerOpened)); n != tc.opened {
				t.Errorf("breaker.opened records = %d, want %d", n, tc.opened)
			}
		})
	}
}

func TestBreakerNotifiesOncePerOpening(t *testing.T) {
	var got []guard.Notification
	fail := true
	n := guard.NotifierFunc(func(_ context.Context, n guard.Notification) error {
		if fail {
			return errors.New("slack is down")
		}
		got = append(got, n)
		return nil
	})
	h := newHarness(t, guard.Config{Notifier: n}, breakerPlaybook)
	play(t, h, []act{
		{ev: ev("e1", "shop/cart"), observe: "fail"},
		{ev: ev("e2", "shop/cart"), observe: "fail"},
		{ev: ev("e3", "shop/cart"), want: guard.ReasonBreakerOpen},
		{ev: ev("e4", "shop/cart"), want: guard.ReasonBreakerOpen},
	})
	if sent := h.g.DeliverNotifications(context.Background()); sent != 0 || len(got) != 0 {
		t.Fatalf("a failing notifier delivered %d", sent)
	}
	// The notification waits in the store, across a restart.
	h.restart()
	h.cfg.Notifier = n
	fail = false
	if sent := h.g.DeliverNotifications(context.Background()); sent != 1 {
		t.Fatalf("delivered %d notifications, want 1", sent)
	}
	if sent := h.g.DeliverNotifications(context.Background()); sent != 0 {
		t.Fatalf("delivered %d more, want none", sent)
	}
	if len(got) != 1 || got[0].Playbook != "p" || got[0].Target != "Deployment/shop/cart" || !strings.Contains(got[0].Reason, "2 runs failed") {
		t.Fatalf("notifications = %+v", got)
	}
	if !strings.Contains(got[0].Text(), "/api/v1/breakers/"+got[0].BreakerID+"/reset") {
		t.Errorf("text = %q", got[0].Text())
	}
	if n := len(h.records(guard.KindBreakerNotified)); n != 1 {
		t.Errorf("breaker.notified records = %d, want 1", n)
	}
}

func TestBreakerReset(t *testing.T) {
	h := newHarness(t, guard.Config{}, breakerPlaybook)
	play(t, h, []act{
		{ev: ev("e1", "shop/cart"), observe: "fail"},
		{ev: ev("e2", "shop/cart"), observe: "fail"},
		{ev: ev("e3", "shop/api"), observe: "ok"},
	})
	bs, err := h.g.Breakers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].State != guard.StateOpen || bs[0].Target != "Deployment/shop/cart" || bs[0].RetryAt == nil {
		t.Fatalf("breakers = %+v, want the open one first", bs)
	}
	if bs[0].ID != guard.BreakerID("p", "Deployment/shop/cart") {
		t.Errorf("id = %s", bs[0].ID)
	}
	if _, err := h.g.ResetBreaker(context.Background(), "nope", "alice"); !errors.Is(err, guard.ErrUnknownBreaker) {
		t.Fatalf("reset unknown = %v", err)
	}
	st, err := h.g.ResetBreaker(context.Background(), bs[0].ID, "alice")
	if err != nil || st.State != guard.StateClosed {
		t.Fatalf("reset = %+v, %v", st, err)
	}
	play(t, h, []act{{ev: ev("e4", "shop/cart"), observe: "fail"}, {ev: ev("e5", "shop/cart")}})
	recs := h.records(guard.KindBreakerReset)
	if len(recs) != 1 || recs[0].Actor != "alice" {
		t.Fatalf("reset records = %+v", recs)
	}
}

const protectedPlaybook = `
name: p
match: 'true'
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}", replicas: '{{ int(event.labels.replicas) }}' }
  - action: webhook.notify
    with: { url: "http://hooks.example/sre" }
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
---
name: block
match: 'true'
steps:
  - action: test.restart
    with: { ip: "{{ event.labels.ip }}", replicas: 3 }
`

func TestProtected(t *testing.T) {
	three, five := 3, 5
	cfg := guard.Config{
		ProtectedNamespaces: []string{"kube-*", "payments"},
		ProtectedLabels:     []string{"firebreak.io/protected=true", "tier=db,env!=dev"},
		ProtectedCIDRs:      []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"},
		Bounds:              map[string]map[string]guard.Bound{"test.restart": {"replicas": {Min: &three, Max: &five}}},
	}
	cases := []struct {
		name string
		pb   string
		step int
		ev   *event.Event
		want engine.Reason
	}{
		{"an ordinary namespace", "p", 0, ev("e", "shop/cart", "replicas=3"), ""},
		{"a namespace pattern", "p", 0, ev("e", "kube-system/coredns", "replicas=3"), guard.ReasonProtected},
		{"an exact namespace", "p", 0, ev("e", "payments/api", "replicas=3"), guard.ReasonProtected},
		{"a protected label", "p", 0, ev("e", "shop/cart", "replicas=3", "firebreak.io/protected=true"), guard.ReasonProtected},
		{"a selector with two requirements", "p", 0, ev("e", "shop/pg", "replicas=3", "tier=db", "env=prod"), guard.ReasonProtected},
		{"a selector's != excludes", "p", 0, ev("e", "shop/pg", "replicas=3", "tier=db", "env=dev"), ""},
		{"a notify step about a protected workload", "p", 1, ev("e", "kube-system/coredns", "firebreak.io/protected=true"), ""},
		{"below the scale bound", "p", 0, ev("e", "shop/cart", "replicas=2"), guard.ReasonProtected},
		{"above the scale bound", "p", 0, ev("e", "shop/cart", "replicas=6"), guard.ReasonProtected},
		{"an unset parameter is checked at its default", "p", 2, ev("e", "shop/cart"), guard.ReasonProtected},
		{"an address in a protected range", "block", 0, ev("e", "x/y", "ip=10.1.2.3"), guard.ReasonProtected},
		{"a single protected address", "block", 0, ev("e", "x/y", "ip=192.0.2.7"), guard.ReasonProtected},
		{"an IPv6 address in a protected range", "block", 0, ev("e", "x/y", "ip=2001:db8::1"), guard.ReasonProtected},
		{"a range that covers a protected one", "block", 0, ev("e", "x/y", "ip=192.0.2.0/24"), guard.ReasonProtected},
		{"an ordinary address", "block", 0, ev("e", "x/y", "ip=198.51.100.1"), ""},
	}
	h := newHarness(t, cfg, protectedPlaybook)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want(t, tc.name, h.check(h.plan(tc.pb, engine.PhaseSteps, tc.step, tc.ev, false)), tc.want)
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	five, two := 5, 2
	cases := []struct {
		name string
		cfg  guard.Config
	}{
		{"bad cidr", guard.Config{ProtectedCIDRs: []string{"10.0.0.0/33"}}},
		{"bad selector", guard.Config{ProtectedLabels: []string{"a=b,,c"}}},
		{"bad pattern", guard.Config{ProtectedNamespaces: []string{"kube-["}}},
		{"min above max", guard.Config{Bounds: map[string]map[string]guard.Bound{"x": {"replicas": {Min: &five, Max: &two}}}}},
		{"cap without window", guard.Config{MaxActions: guard.Rate{Count: 3}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := guard.New(tc.cfg); !errors.Is(err, guard.ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestPause(t *testing.T) {
	ctx := context.Background()
	t.Run("pause and resume through the API", func(t *testing.T) {
		h := newHarness(t, guard.Config{}, dedupePlaybook)
		if _, err := h.g.Pause(ctx, "alice", "incident 42"); err != nil {
			t.Fatal(err)
		}
		v := h.check(h.plan("p", engine.PhaseSteps, 0, ev("e1", "shop/cart"), false))
		want(t, "paused step", v, guard.ReasonPaused)
		if !strings.Contains(v.Message, "alice") || !strings.Contains(v.Message, "incident 42") {
			t.Errorf("message = %q", v.Message)
		}
		want(t, "paused dry run", h.check(h.plan("p", engine.PhaseSteps, 0, ev("d1", "shop/cart"), true)), guard.ReasonPaused)
		want(t, "paused on_resolved", h.check(h.plan("p", engine.PhaseOnResolved, 0, ev("e1", "shop/cart"), false)), guard.ReasonPaused)
		// The pause survives a restart.
		h.restart()
		want(t, "after restart", h.check(h.plan("p", engine.PhaseSteps, 0, ev("e2", "shop/cart"), false)), guard.ReasonPaused)
		st, err := h.g.Resume(ctx, "bob")
		if err != nil || st.Paused {
			t.Fatalf("resume = %+v, %v", st, err)
		}
		// Nothing was opened while paused: the first event after resume runs.
		want(t, "after resume", h.check(h.plan("p", engine.PhaseSteps, 0, ev("e3", "shop/cart"), false)), "")
		if p, r := h.records(guard.KindPaused), h.records(guard.KindResumed); len(p) != 1 || p[0].Actor != "alice" || len(r) != 1 || r[0].Actor != "bob" {
			t.Errorf("pause records = %+v, resume records = %+v", p, r)
		}
	})
	t.Run("the config flag cannot be resumed through the API", func(t *testing.T) {
		h := newHarness(t, guard.Config{Paused: true}, dedupePlaybook)
		want(t, "config pause", h.check(h.plan("p", engine.PhaseSteps, 0, ev("e1", "shop/cart"), false)), guard.ReasonPaused)
		st, err := h.g.Resume(ctx, "bob")
		if !errors.Is(err, guard.ErrPausedByConfig) || !st.Paused || !st.ByConfig {
			t.Fatalf("resume = %+v, %v; want ErrPausedByConfig", st, err)
		}
	})
}

// TestShadow checks that a shadow playbook's decisions are computed by the
// same guards, from state of their own.
func TestShadow(t *testing.T) {
	const yaml = `
name: p
match: 'true'
mode: shadow
dedupe: { key: 'event.labels.deployment', window: 15m }
budget: ["1/1h"]
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
`
	h := newHarness(t, guard.Config{ProtectedNamespaces: []string{"kube-system"}}, yaml)
	play(t, h, []act{
		{ev: ev("s1", "shop/cart"), dry: true},
		{ev: ev("s2", "shop/cart"), dry: true, want: guard.ReasonDeduped},
		{advance: 15 * time.Minute, ev: ev("s3", "shop/cart"), dry: true, want: guard.ReasonBudgetExhausted},
		{ev: ev("s4", "kube-system/dns"), dry: true, want: guard.ReasonProtected},
		{ev: ev("l1", "shop/cart")}, // a live run sees none of it
	})
}

// TestRestartKeepsState opens a breaker, exhausts a budget and starts a
// dedupe window, then reopens the same bbolt file: all three still hold.
func TestRestartKeepsState(t *testing.T) {
	const yaml = `
name: p
match: 'true'
dedupe: { key: 'event.labels.deployment', window: 15m }
budget: ["1/1h"]
breaker: { failures: 1, window: 30m, cooldown: 24h }
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
`
	h := newHarness(t, guard.Config{}, yaml)
	play(t, h, []act{
		{ev: ev("a1", "shop/deduped")},                 // opens a dedupe window
		{ev: ev("b1", "shop/budget")},                  // uses the budget
		{ev: ev("c1", "shop/broken"), observe: "fail"}, // opens the breaker
	})
	h.restart()
	play(t, h, []act{
		{advance: time.Minute, ev: ev("a2", "shop/deduped"), want: guard.ReasonDeduped},
		{ev: ev("b2", "shop/budget"), want: guard.ReasonDeduped}, // b1's window still holds too
		{advance: 15 * time.Minute, ev: ev("b3", "shop/budget"), want: guard.ReasonBudgetExhausted},
		{advance: 45 * time.Minute, ev: ev("c2", "shop/broken"), want: guard.ReasonBreakerOpen},
		{ev: ev("d1", "shop/other")},
	})
}

func TestSweep(t *testing.T) {
	h := newHarness(t, guard.Config{}, dedupePlaybook)
	play(t, h, []act{{ev: ev("e1", "shop/cart")}, {ev: ev("e2", "shop/api")}})
	if n, err := h.g.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweep inside the window removed %d, %v", n, err)
	}
	h.clk.Advance(15 * time.Minute)
	if n, err := h.g.Sweep(context.Background()); err != nil || n != 2 {
		t.Fatalf("sweep after the window removed %d, %v; want 2", n, err)
	}
}
