package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// ClusterRoleName is the name of the ClusterRole ClusterRole returns.
const ClusterRoleName = "firebreak"

// rules lists, per action id, exactly the API calls the action makes. A dry
// run is authorized like the real request, so it needs the same verbs.
var rules = map[string][]rbacv1.PolicyRule{
	RestartID: {{
		// get for the pre-flight checks, patch for the annotation.
		APIGroups: []string{"apps"},
		Resources: []string{"daemonsets", "deployments", "statefulsets"},
		Verbs:     []string{"get", "patch"},
	}},
	ScaleID: {{
		// get and update on the scale subresource only; the workload
		// itself is never read or written.
		APIGroups: []string{"apps"},
		Resources: []string{"deployments/scale", "statefulsets/scale"},
		Verbs:     []string{"get", "update"},
	}},
}

// permissionStrings renders an action's rules for actions.Spec.Permissions,
// one "group/resource: verbs" string per resource.
func permissionStrings(id string) []string {
	var out []string
	for _, r := range rules[id] {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				prefix := res
				if g != "" {
					prefix = g + "/" + res
				}
				out = append(out, prefix+": "+strings.Join(r.Verbs, ", "))
			}
		}
	}
	return out
}

// ClusterRole returns the smallest ClusterRole that lets the given actions
// run, for `firebreak rbac`. Ids of actions that need no Kubernetes access
// are ignored; rules are merged per API group and verb set, and sorted, so
// the output is stable.
func ClusterRole(actionIDs []string) *rbacv1.ClusterRole {
	type key struct{ group, verbs string }
	merged := map[key][]string{}
	var keys []key
	for _, id := range actionIDs {
		for _, r := range rules[id] {
			for _, g := range r.APIGroups {
				k := key{g, strings.Join(r.Verbs, ",")}
				if _, ok := merged[k]; !ok {
					keys = append(keys, k)
				}
				for _, res := range r.Resources {
					if !slices.Contains(merged[k], res) {
						merged[k] = append(merged[k], res)
					}
				}
			}
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.group+" "+a.verbs, b.group+" "+b.verbs)
	})
	role := &rbacv1.ClusterRole{
		TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   ClusterRoleName,
			Labels: map[string]string{"app.kubernetes.io/name": "firebreak"},
		},
		Rules: []rbacv1.PolicyRule{},
	}
	for _, k := range keys {
		res := merged[k]
		slices.Sort(res)
		role.Rules = append(role.Rules, rbacv1.PolicyRule{
			APIGroups: []string{k.group},
			Resources: res,
			Verbs:     strings.Split(k.verbs, ","),
		})
	}
	return role
}

// ClusterRoleYAML renders role as a YAML manifest for `kubectl apply -f`.
func ClusterRoleYAML(role *rbacv1.ClusterRole) ([]byte, error) {
	r := role.DeepCopy()
	r.APIVersion = rbacv1.SchemeGroupVersion.String()
	r.Kind = "ClusterRole"
	out, err := yaml.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("render cluster role: %w", err)
	}
	// creationTimestamp: null is noise in a manifest meant for humans.
	out = []byte(strings.Replace(string(out), "  creationTimestamp: null\n", "", 1))
	header := "# Minimal permissions for the Firebreak actions in use. Bind it to\n" +
		"# Firebreak's service account with a ClusterRoleBinding (or a RoleBinding\n" +
		"# per namespace to narrow it further).\n"
	return append([]byte(header), out...), nil
}

// CheckAccess asks the API server, with one SelfSubjectAccessReview per
// resource and verb in rules, whether the client's identity may make every
// call the actions need, cluster-wide. It returns one human warning per
// missing permission (none when all are held); the error is for a review
// that could not be made at all.
func CheckAccess(ctx context.Context, client kclient.Interface, rules []rbacv1.PolicyRule) ([]string, error) {
	var warnings []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				for _, verb := range r.Verbs {
					review := &authorizationv1.SelfSubjectAccessReview{
						Spec: authorizationv1.SelfSubjectAccessReviewSpec{
							ResourceAttributes: &authorizationv1.ResourceAttributes{
								Group: g, Resource: resource, Subresource: sub, Verb: verb,
							},
						},
					}
					got, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
					if err != nil {
						return warnings, fmt.Errorf("check %s on %s: %w", verb, qualified(g, res), err)
					}
					if !got.Status.Allowed {
						w := fmt.Sprintf("missing kubernetes permission: %s %s (cluster-wide)", verb, qualified(g, res))
						if reason := got.Status.Reason; reason != "" {
							w += ": " + reason
						}
						warnings = append(warnings, w)
					}
				}
			}
		}
	}
	return warnings, nil
}

func qualified(group, resource string) string {
	if group == "" {
		return resource
	}
	return group + "/" + resource
}
