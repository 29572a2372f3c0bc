package playbooks_test

import (
	"context"
	"testing"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
)

// scaleAction is a stand-in for a Kubernetes scale action with the kinds of
// parameters real actions have: enums, bounded integers, required strings.
type scaleAction struct{}

func (scaleAction) Spec() actions.Spec {
	return actions.Spec{
		ID:          "demo.scale",
		Description: "Scale a workload (test double).",
		Params: []actions.Param{
			{Name: "kind", Type: actions.String, Required: true, Enum: []string{"Deployment", "StatefulSet"}, Doc: "workload kind"},
			{Name: "namespace", Type: actions.String, Required: true, Doc: "namespace"},
			{Name: "name", Type: actions.String, Required: true, Doc: "workload name"},
			{Name: "replicas", Type: actions.Int, Required: true, Min: actions.IntPtr(1), Max: actions.IntPtr(50), Doc: "desired replicas"},
			{Name: "dry", Type: actions.Bool, Doc: "flag"},
			{Name: actions.RestoreParam, Type: actions.Bool, Doc: "restore a recorded count"},
		},
	}
}

func (a scaleAction) Validate(params map[string]any, final bool) error {
	return actions.CheckParams(a.Spec(), params, final)
}

func (scaleAction) Target(params map[string]any) actions.Target {
	return actions.Target{Kind: actions.StringParam(params, "kind", ""), Namespace: actions.StringParam(params, "namespace", ""), Name: actions.StringParam(params, "name", "")}
}

func (scaleAction) Run(ctx context.Context, req actions.Request) (actions.Result, error) {
	panic("playbook tests must never run an action")
}

// testRegistry holds webhook.notify and demo.scale.
func testRegistry(t testing.TB) *actions.Registry {
	t.Helper()
	r := actions.NewRegistry()
	for _, a := range []actions.Action{webhook.New(webhook.Config{}), scaleAction{}} {
		if err := r.Register(a); err != nil {
			t.Fatal(err)
		}
	}
	return r
}
