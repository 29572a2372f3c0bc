package approval_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks"
)

// recordingAction is an action that records what it was asked to do.
type recordingAction struct {
	mu   sync.Mutex
	runs []map[string]any
}

func (*recordingAction) Spec() actions.Spec {
	return actions.Spec{ID: "test.restart", Description: "records runs", Params: []actions.Param{
		{Name: "name", Type: actions.String, Required: true, Doc: "what to restart"},
	}, Example: map[string]any{"name": "cart"}}
}
func (*recordingAction) Validate(map[string]any, bool) error { return nil }
func (*recordingAction) Target(p map[string]any) actions.Target {
	n, _ := p["name"].(string)
	return actions.Target{Kind: "Deployment", Namespace: "shop", Name: n}
}
func (r *recordingAction) Run(_ context.Context, req actions.Request) (actions.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, req.Params)
	return actions.Result{Summary: "restarted Deployment shop/" + req.Params["name"].(string)}, nil
}

func (r *recordingAction) Runs() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.runs...)
}

const enginePlaybook = `
name: restart-with-approval
match: event.status == "firing"
approval: { expires: 10m }
steps:
  - action: test.restart
    approval: required
    with:
      name: "%s"
`

func loadSet(t *testing.T, reg *actions.Registry, name string) *playbooks.Set {
	t.Helper()
	fsys := fstest.MapFS{"pb.yaml": {Data: []byte(strings.Replace(enginePlaybook, "%s", name, 1))}}
	set, err := playbooks.LoadFS(reg, fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// With the real engine: an approval runs the parked step exactly once, and
// a plan that changed after approval (a playbook reload rendering other
// parameters) is refused rather than run.
func TestApprovedStepRunsThroughTheEngine(t *testing.T) {
	for _, tt := range []struct {
		name       string
		reloadWith string // render the step with another name before approving
		wantRuns   int
		wantUpdate []string
	}{
		{"same plan", "", 1, []string{"Outcome: restarted Deployment shop/cart"}},
		{"plan changed after approval was asked", "checkout", 0, []string{"Failed: refused by the guards (plan_changed)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			act := &recordingAction{}
			reg := actions.NewRegistry()
			if err := reg.Register(act); err != nil {
				t.Fatal(err)
			}
			var eng *engine.Engine
			h := newHarness(t, func(c *approval.Config) {
				c.Continue = func(ctx context.Context, seq uint64, pb, phase string, from int, by string) error {
					return eng.Continue(ctx, seq, pb, phase, from, by)
				}
			})
			eng = engine.New(engine.Config{Store: h.db, Registry: reg, Now: h.clock.Now, Approver: h.svc})
			eng.SetPlaybooks(loadSet(t, reg, "cart"))

			ev := event.Event{ID: "ev-1", Source: "alertmanager", Status: event.StatusFiring, Name: "KubePodCrashLooping", Fingerprint: "fp1", StartsAt: t0, ReceivedAt: t0}
			seqs, err := h.db.AppendEvents(context.Background(), []event.Event{ev})
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Process(context.Background(), seqs[0]); err != nil {
				t.Fatal(err)
			}
			if len(act.Runs()) != 0 {
				t.Fatal("the step ran before approval")
			}
			pending, err := approval.List(context.Background(), h.db, approval.Filter{PendingOnly: true})
			if err != nil || len(pending) != 1 {
				t.Fatalf("pending = %+v, %v", pending, err)
			}
			a := pending[0]
			if tt.reloadWith != "" {
				eng.SetPlaybooks(loadSet(t, reg, tt.reloadWith))
			}
			if err := h.decide(a, approval.Approve, alice); err != nil {
				t.Fatal(err)
			}
			if got := len(act.Runs()); got != tt.wantRuns {
				t.Fatalf("runs = %d, want %d", got, tt.wantRuns)
			}
			got := h.get(a.ID)
			if !got.Executed {
				t.Fatalf("not executed: %+v", got)
			}
			ups := h.slack.Calls("chat.update")
			last := ups[len(ups)-1]
			for _, w := range tt.wantUpdate {
				if !strings.Contains(last.Text(), w) {
					t.Errorf("final message lacks %q:\n%s", w, last.Text())
				}
			}
			// A second approval path (the API after Slack) cannot run it again.
			_, err = h.svc.Decide(context.Background(), a.ID, a.PlanHash, approval.Approve, approval.Actor{ID: "api:ops"}, approval.ViaAPI)
			h.svc.Wait()
			if !errors.Is(err, approval.ErrDecided) || len(act.Runs()) != tt.wantRuns {
				t.Errorf("second approval: err %v, runs %d", err, len(act.Runs()))
			}
			// Reprocessing the event (a crash before it was finished) does
			// not park or run the step again.
			if err := eng.Process(context.Background(), seqs[0]); err != nil {
				t.Fatal(err)
			}
			if len(act.Runs()) != tt.wantRuns {
				t.Errorf("reprocessing ran the step again")
			}
			recs, _, err := h.db.ListAudit(context.Background(), audit.Query{EventID: "ev-1", Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, r := range recs {
				if r.Kind == audit.KindApproval || strings.HasPrefix(string(r.Kind), "step.") {
					kinds = append(kinds, string(r.Kind)+"/"+r.Outcome)
				}
			}
			want := "approval/requested approval/approved step.started/started step.succeeded/ok"
			if tt.reloadWith != "" {
				want = "approval/requested approval/approved step.refused/plan_changed"
			}
			if got := strings.Join(kinds, " "); !strings.HasPrefix(got, want) {
				t.Errorf("audit = %q, want it to start %q", got, want)
			}
		})
	}
}
