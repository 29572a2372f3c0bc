package plan_test

import (
	"context"
	"errors"
	"testing"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/plan"
	"github.com/firebreak/firebreak/playbooks"
)

// secretAction has a secret parameter and refuses an empty name.
type secretAction struct{}

func (secretAction) Spec() actions.Spec {
	return actions.Spec{ID: "test.call", Description: "d", Params: []actions.Param{
		{Name: "name", Type: actions.String},
		{Name: "key", Type: actions.String, Secret: true},
	}, Example: map[string]any{"name": "x"}}
}

func (secretAction) Validate(p map[string]any, final bool) error {
	if n, _ := p["name"].(string); final && n == "" {
		return errors.New("name: must not be empty")
	}
	return nil
}

func (secretAction) Target(p map[string]any) actions.Target {
	return actions.Target{Kind: "Thing", Name: actions.StringParam(p, "name", "")}
}

func (secretAction) Run(context.Context, actions.Request) (actions.Result, error) {
	return actions.Result{}, nil
}

func TestPrepare(t *testing.T) {
	reg := actions.NewRegistry()
	if err := reg.Register(secretAction{}); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Parse(reg, "pb.yaml", []byte(`
name: p
description: d
match: event.name == "X"
steps:
  - action: test.call
    with: { name: "{{ event.labels.app }}", key: "{{ event.labels.key }}" }
  - action: test.call
    when: event.severity == "critical"
    with: { name: a }
  - action: test.call
    continue_on_error: true
    with: { name: "{{ event.labels.nope }}" }
`))
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := set.Get("p")
	ev := &event.Event{ID: "e", Name: "X", Labels: map[string]string{"app": "cart", "key": "s3cr3t"}}
	tests := []struct {
		step      int
		cat       playbooks.Catalog
		outcome   plan.Outcome
		stops     bool
		shownKey  any
		wantTgt   string
		wantError bool
	}{
		{0, reg, plan.Planned, false, plan.Redacted, "Thing/cart", false},
		{0, nil, plan.Planned, false, "s3cr3t", "", false}, // no catalogue: nothing to redact by
		{1, reg, plan.WhenFalse, false, nil, "", false},
		{2, reg, plan.InvalidParams, false, nil, "", true}, // continue_on_error: the playbook goes on
	}
	for _, tt := range tests {
		st := pb.Steps[tt.step]
		ps := plan.Prepare(tt.cat, ev, st)
		if ps.Outcome != tt.outcome || ps.Stops(st) != tt.stops || (ps.Err != nil) != tt.wantError {
			t.Errorf("step %d: outcome %s stops %v err %v, want %s %v error=%v", tt.step, ps.Outcome, ps.Stops(st), ps.Err, tt.outcome, tt.stops, tt.wantError)
		}
		if ps.Planned() {
			if ps.Shown["key"] != tt.shownKey {
				t.Errorf("step %d: shown key = %v, want %v", tt.step, ps.Shown["key"], tt.shownKey)
			}
			if ps.Params["key"] != "s3cr3t" {
				t.Errorf("step %d: the action must get the secret, got %v", tt.step, ps.Params["key"])
			}
			if tt.cat != nil && ps.Target.String() != tt.wantTgt {
				t.Errorf("step %d: target %q, want %q", tt.step, ps.Target.String(), tt.wantTgt)
			}
		}
	}
	// Without continue_on_error the same failure stops the playbook.
	bad := *pb.Steps[2]
	bad.ContinueOnError = false
	if ps := plan.Prepare(reg, ev, &bad); !ps.Stops(&bad) {
		t.Errorf("an invalid step without continue_on_error must stop the playbook")
	}
}
