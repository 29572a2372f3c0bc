package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

// approvalsCLIAction stands in for a real action in parked plans.
type approvalsCLIAction struct{}

func (approvalsCLIAction) Spec() actions.Spec {
	return actions.Spec{ID: "kubernetes.restart", Params: []actions.Param{{Name: "name", Type: actions.String}}}
}
func (approvalsCLIAction) Validate(map[string]any, bool) error { return nil }
func (approvalsCLIAction) Target(p map[string]any) actions.Target {
	return actions.Target{Kind: "Deployment", Namespace: "shop", Name: p["name"].(string)}
}
func (approvalsCLIAction) Run(context.Context, actions.Request) (actions.Result, error) {
	return actions.Result{}, nil
}

// writeApprovals parks two steps and denies the second through the API
// path, returning the pending and the denied approval ids.
func writeApprovals(t *testing.T, db *store.DB) (pending, denied string) {
	t.Helper()
	svc := approval.New(approval.Config{Store: db, Now: func() time.Time { return time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC) }, DefaultExpiry: 24 * 365 * time.Hour})
	pb := &playbooks.Playbook{Name: "restart-with-approval"}
	var ids []string
	for i, name := range []string{"cart", "checkout"} {
		params := map[string]any{"name": name}
		ev := &event.Event{ID: "ev-" + name, Source: "alertmanager", Status: event.StatusFiring, Name: "KubePodCrashLooping"}
		p := &engine.Plan{Seq: uint64(i + 1), Event: ev, Playbook: pb, Phase: engine.PhaseSteps,
			Step: &playbooks.Step{Action: "kubernetes.restart"}, Action: approvalsCLIAction{}, Params: params,
			Target: approvalsCLIAction{}.Target(params)}
		err := db.Update(context.Background(), func(tx state.Tx) error {
			id, err := svc.Park(tx, p, nil)
			if err == nil {
				ids = append(ids[:i], id)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	a, err := approval.Get(context.Background(), db, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Decide(context.Background(), a.ID, a.PlanHash, approval.Deny, approval.Actor{ID: "api:oncall"}, approval.ViaAPI); err != nil {
		t.Fatal(err)
	}
	svc.Wait()
	return ids[0], ids[1]
}

func TestApprovalsList(t *testing.T) {
	for _, env := range auditEnvs {
		t.Run(env.name, func(t *testing.T) {
			var pending, denied string
			where := env.start(t, func(db *store.DB) { pending, denied = writeApprovals(t, db) })
			for _, tt := range []struct {
				name    string
				args    []string
				want    []string
				notWant []string
			}{
				{"pending by default", nil, []string{pending, "pending", "restart-with-approval", "kubernetes.restart", "Deployment/shop/cart", "0/1"}, []string{denied}},
				{"every status", []string{"--all"}, []string{pending, denied, "denied by api:oncall"}, nil},
				{"one status", []string{"--status", "denied"}, []string{denied}, []string{pending}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					code, out, errOut := auditCLI(t, append(append([]string{"approvals", "list"}, where...), tt.args...)...)
					if code != 0 {
						t.Fatalf("exit %d: %s", code, errOut)
					}
					for _, w := range tt.want {
						if !strings.Contains(out, w) {
							t.Errorf("output lacks %q:\n%s", w, out)
						}
					}
					for _, w := range tt.notWant {
						if strings.Contains(out, w) {
							t.Errorf("output has %q:\n%s", w, out)
						}
					}
				})
			}
			code, out, errOut := auditCLI(t, append(append([]string{"approvals", "list"}, where...), "--all", "--json")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("json lines = %d:\n%s", len(lines), out)
			}
			for _, l := range lines {
				var a approval.Approval
				if err := json.Unmarshal([]byte(l), &a); err != nil || a.PlanHash == "" {
					t.Errorf("line %q: %v", l, err)
				}
			}
		})
	}
	if code, _, _ := auditCLI(t, "approvals", "list", "--status", "maybe"); code != 2 {
		t.Errorf("bad --status exit = %d, want 2", code)
	}
}
