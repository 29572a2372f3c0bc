package guard_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

// clock is an injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// restartAction is a destructive test action whose target is a workload or
// an address.
type restartAction struct{}

func (restartAction) Spec() actions.Spec {
	return actions.Spec{
		ID: "test.restart", Description: "restart a workload (test)",
		Params: []actions.Param{
			{Name: "namespace", Type: actions.String},
			{Name: "name", Type: actions.String},
			{Name: "ip", Type: actions.String},
			{Name: "replicas", Type: actions.Int, Default: 1},
		},
		Destructive: true,
	}
}

func (a restartAction) Validate(p map[string]any, final bool) error {
	return actions.CheckParams(a.Spec(), p, final)
}

func (restartAction) Target(p map[string]any) actions.Target {
	if ip, _ := p["ip"].(string); ip != "" {
		return actions.Target{Kind: "ip", IP: ip}
	}
	return actions.Target{Kind: "Deployment", Namespace: actions.StringParam(p, "namespace", ""), Name: actions.StringParam(p, "name", "")}
}

func (restartAction) Run(context.Context, actions.Request) (actions.Result, error) {
	return actions.Result{Summary: "restarted"}, nil
}

func testRegistry(t testing.TB) *actions.Registry {
	t.Helper()
	reg := actions.NewRegistry()
	for _, a := range []actions.Action{restartAction{}, webhook.New(webhook.Config{})} {
		if err := reg.Register(a); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// harness is a guard over a real bbolt file with an injected clock.
type harness struct {
	t    testing.TB
	path string
	clk  *clock
	db   *store.DB
	reg  *actions.Registry
	set  *playbooks.Set
	g    *guard.Guard
	cfg  guard.Config
}

func newHarness(t testing.TB, cfg guard.Config, playbookYAML string) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "firebreak.db"), clk: newClock(), reg: testRegistry(t), cfg: cfg}
	set, err := playbooks.Parse(h.reg, "test.yaml", []byte(playbookYAML))
	if err != nil {
		t.Fatalf("playbooks: %v", err)
	}
	h.set = set
	h.open()
	return h
}

// open opens the store file and builds a new guard over it, as a restart
// does.
func (h *harness) open() {
	h.t.Helper()
	db, err := store.Open(h.path, store.Options{Now: h.clk.Now, NoSync: true})
	if err != nil {
		h.t.Fatal(err)
	}
	h.db = db
	h.t.Cleanup(func() { _ = db.Close() })
	cfg := h.cfg
	cfg.Store, cfg.Registry = db, h.reg
	g, err := guard.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.g = g
}

func (h *harness) restart() {
	h.t.Helper()
	if err := h.db.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func (h *harness) playbook(name string) *playbooks.Playbook {
	h.t.Helper()
	pb, ok := h.set.Get(name)
	if !ok {
		h.t.Fatalf("no playbook %q", name)
	}
	return pb
}

// plan renders step i of playbook pb for ev as the engine would.
func (h *harness) plan(pb string, phase string, i int, ev *event.Event, dry bool) *engine.Plan {
	h.t.Helper()
	p := h.playbook(pb)
	steps := p.Steps
	if phase == engine.PhaseOnResolved {
		steps = p.OnResolved
	}
	st := steps[i]
	params, err := st.Render(ev)
	if err != nil {
		h.t.Fatalf("render: %v", err)
	}
	act, err := h.reg.Get(st.Action)
	if err != nil {
		h.t.Fatal(err)
	}
	return &engine.Plan{Seq: 1, Event: ev, Playbook: p, Phase: phase, Step: st, Action: act, Params: params, Target: act.Target(params), DryRun: dry}
}

func (h *harness) check(p *engine.Plan) engine.Verdict {
	h.t.Helper()
	var v engine.Verdict
	err := h.db.Update(context.Background(), func(tx state.Tx) error {
		var err error
		v, err = h.g.Check(tx, p)
		return err
	})
	if err != nil {
		h.t.Fatalf("check: %v", err)
	}
	return v
}

func (h *harness) observe(p *engine.Plan, runErr error) {
	h.t.Helper()
	if err := h.db.Update(context.Background(), func(tx state.Tx) error { return h.g.Observe(tx, p, runErr) }); err != nil {
		h.t.Fatalf("observe: %v", err)
	}
}

func (h *harness) resolve(pb string, ev *event.Event) {
	h.t.Helper()
	r := *ev
	r.Status = event.StatusResolved
	if err := h.db.Update(context.Background(), func(tx state.Tx) error { return h.g.Resolved(tx, h.playbook(pb), &r) }); err != nil {
		h.t.Fatalf("resolved: %v", err)
	}
}

func (h *harness) records(kind audit.Kind) []audit.Record {
	h.t.Helper()
	recs, _, err := h.db.ListAudit(context.Background(), audit.Query{Kind: kind, Limit: 10000})
	if err != nil {
		h.t.Fatal(err)
	}
	return recs
}

// ev builds a firing event on target "namespace/deployment"; fp defaults
// to the id.
func ev(id, target string, labels ...string) *event.Event {
	ns, dep, _ := strings.Cut(target, "/")
	l := map[string]string{"namespace": ns, "deployment": dep}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		l[k] = v
	}
	return &event.Event{ID: id, Source: "alertmanager", Status: event.StatusFiring, Name: "KubePodCrashLooping",
		Fingerprint: "fp-" + id, Labels: l}
}

// withFP returns a copy of e with fingerprint fp.
func withFP(e *event.Event, fp string) *event.Event {
	c := *e
	c.Fingerprint = fp
	return &c
}

var errBoom = errors.New("boom")

// want checks a verdict's reason ("" means allowed).
func want(t testing.TB, what string, v engine.Verdict, reason engine.Reason) {
	t.Helper()
	if v.Reason != reason {
		t.Fatalf("%s: verdict = %q (%s), want %q", what, v.Reason, v.Message, reason)
	}
	if reason != "" && v.Message == "" {
		t.Fatalf("%s: refusal %q has no message", what, reason)
	}
}
