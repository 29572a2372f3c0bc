package app

import (
	"github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/playbooks"
)

// KubernetesUses lists every step of the set (on_resolved included) as a
// kubernetes.Use: its action and its literal parameters, with templated
// ones as kubernetes.Dynamic. kubernetes.ClusterRoleFor turns it into the
// smallest ClusterRole the set needs.
func KubernetesUses(set *playbooks.Set) []kubernetes.Use {
	var uses []kubernetes.Use
	for _, p := range set.Playbooks {
		for _, s := range append(append([]*playbooks.Step{}, p.Steps...), p.OnResolved...) {
			params := make(map[string]any, len(s.With))
			for name, v := range s.With {
				if lit, ok := v.Literal(); ok {
					params[name] = lit
				} else {
					params[name] = kubernetes.Dynamic
				}
			}
			uses = append(uses, kubernetes.Use{Action: s.Action, Params: params})
		}
	}
	return uses
}
