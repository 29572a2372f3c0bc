package kubernetes_test

import (
	"strings"
	"testing"

	kube "github.com/firebreak/firebreak/actions/kubernetes"
	rbacv1 "k8s.io/api/rbac/v1"
)

func flat(rules []rbacv1.PolicyRule) string {
	var out []string
	for _, r := range rules {
		out = append(out, strings.Join(r.APIGroups, ",")+":"+strings.Join(r.Resources, ",")+":"+strings.Join(r.Verbs, ","))
	}
	return strings.Join(out, " ")
}

// TestClusterRoleFor: a step's literal kind, its default or its template
// decides the resources; unknown kinds and other actions add nothing.
func TestClusterRoleFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		uses []kube.Use
		want string
	}{
		{"default kind", []kube.Use{{Action: kube.RestartID, Params: map[string]any{"namespace": "a"}}}, "apps:deployments:get,patch"},
		{"literal kinds merge", []kube.Use{
			{Action: kube.RestartID, Params: map[string]any{"kind": kube.KindDaemonSet}},
			{Action: kube.RestartID, Params: map[string]any{"kind": kube.KindDeployment}},
			{Action: kube.RestartID, Params: map[string]any{"kind": kube.KindDeployment}},
		}, "apps:daemonsets,deployments:get,patch"},
		{"templated kind", []kube.Use{{Action: kube.ScaleID, Params: map[string]any{"kind": kube.Dynamic}}},
			"apps:deployments/scale,statefulsets/scale:get,update"},
		{"kind the action refuses", []kube.Use{{Action: kube.ScaleID, Params: map[string]any{"kind": kube.KindDaemonSet}}}, ""},
		{"no kubernetes", []kube.Use{{Action: "slack.notify", Params: map[string]any{"kind": kube.Dynamic}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := flat(kube.ClusterRoleFor(tc.uses).Rules); got != tc.want {
				t.Errorf("rules = %q, want %q", got, tc.want)
			}
		})
	}
}
