package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ClusterRoleName is the name of the ClusterRole ClusterRole returns.
const ClusterRoleName = "firebreak"

// Dynamic stands for a parameter whose value is a template, known only when
// an event renders it; see Use.
var Dynamic = dynamic{}

type dynamic struct{}

// Use is one playbook step's use of an action, as far as it is known at load
// time: Params holds the literal parameter values, and Dynamic for the
// templated ones. A parameter that is absent takes its default.
type Use struct {
	Action string
	Params map[string]any
}

// verbs lists, per action id, exactly the API calls the action makes on each
// workload it may touch. A dry run is authorized like the real request, so
// it needs the same verbs.
var verbs = map[string]struct {
	kinds       []string // the kinds the action accepts; the first is the default
	subresource string
	verbs       []string
}{
	// get for the pre-flight checks, patch for the annotation.
	RestartID: {[]string{KindDeployment, KindStatefulSet, KindDaemonSet}, "", []string{"get", "patch"}},
	// get and update on the scale subresource only; the workload itself is
	// never read or written.
	ScaleID: {[]string{KindDeployment, KindStatefulSet}, "scale", []string{"get", "update"}},
}

// resources maps a workload kind to its API resource.
var resources = map[string]string{KindDeployment: "deployments", KindStatefulSet: "statefulsets", KindDaemonSet: "daemonsets"}

// kindsOf returns the workload kinds a use can touch: the literal kind, the
// default when there is none, every accepted kind when it is templated (and
// none for a literal the action does not accept, which validation refuses).
func kindsOf(u Use) []string {
	v, ok := verbs[u.Action]
	if !ok {
		return nil
	}
	k, present := u.Params["kind"]
	switch {
	case !present:
		return v.kinds[:1]
	case k == Dynamic:
		return v.kinds
	}
	if s, ok := k.(string); ok && slices.Contains(v.kinds, s) {
		return []string{s}
	}
	return nil
}

// rulesFor returns the rules a use needs, one per resource.
func rulesFor(u Use) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	v := verbs[u.Action]
	for _, kind := range kindsOf(u) {
		res := resources[kind]
		if v.subresource != "" {
			res += "/" + v.subresource
		}
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{res}, Verbs: v.verbs})
	}
	return out
}

// permissionStrings renders everything an action may need, whatever its
// kind, for actions.Spec.Permissions: one "group/resource: verbs" string per
// resource.
func permissionStrings(id string) []string {
	var out []string
	for _, r := range rulesFor(Use{Action: id, Params: map[string]any{"kind": Dynamic}}) {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				out = append(out, qualified(g, res)+": "+strings.Join(r.Verbs, ", "))
			}
		}
	}
	slices.Sort(out)
	return out
}

// ClusterRole returns the ClusterRole that lets the given actions run on
// every kind they accept. Ids of actions that need no Kubernetes access are
// ignored. ClusterRoleFor is narrower when the steps are known.
func ClusterRole(actionIDs []string) *rbacv1.ClusterRole {
	uses := make([]Use, 0, len(actionIDs))
	for _, id := range actionIDs {
		uses = append(uses, Use{Action: id, Params: map[string]any{"kind": Dynamic}})
	}
	return ClusterRoleFor(uses)
}

// ClusterRoleFor returns the smallest ClusterRole that lets the given steps
// run, for `firebreak rbac`: only the resources of the kinds each step can
// name, with only the verbs its action uses. Uses of actions that need no
// Kubernetes access are ignored; rules are merged per API group and verb
// set, and sorted, so the output is stable.
func ClusterRoleFor(uses []Use) *rbacv1.ClusterRole {
	var all []rbacv1.PolicyRule
	for _, u := range uses {
		all = append(all, rulesFor(u)...)
	}
	return &rbacv1.ClusterRole{
		TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   ClusterRoleName,
			Labels: map[string]string{"app.kubernetes.io/name": "firebreak"},
		},
		Rules: mergeRules(all),
	}
}

// mergeRules merges rules per API group and verb set, each with its sorted,
// distinct resources, ordered by group and verbs.
func mergeRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	type key struct{ group, verbs string }
	merged := map[key][]string{}
	var keys []key
	for _, r := range rules {
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
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.group+" "+a.verbs, b.group+" "+b.verbs)
	})
	out := []rbacv1.PolicyRule{}
	for _, k := range keys {
		res := merged[k]
		slices.Sort(res)
		out = append(out, rbacv1.PolicyRule{
			APIGroups: []string{k.group},
			Resources: res,
			Verbs:     strings.Split(k.verbs, ","),
		})
	}
	return out
}

// ClusterRoleYAML renders role as a YAML manifest for `kubectl apply -f`.
func ClusterRoleYAML(role *rbacv1.ClusterRole) ([]byte, error) {
	r := role.DeepCopy()
	r.APIVersion = rbacv1.SchemeGroupVersion.String()
	r.Kind = "ClusterRole"
	out, err := manifest(r)
	if err != nil {
		return nil, fmt.Errorf("render cluster role: %w", err)
	}
	header := "# Minimal permissions for the Firebreak actions in use. Bind it to\n" +
		"# Firebreak's service account with a ClusterRoleBinding (or a RoleBinding\n" +
		"# per namespace to narrow it further).\n"
	return append([]byte(header), out...), nil
}

// manifest marshals obj without the creationTimestamp: null that is noise
// in a manifest meant for humans.
func manifest(obj any) ([]byte, error) {
	out, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return []byte(strings.Replace(string(out), "  creationTimestamp: null\n", "", 1)), nil
}

// CheckAccess asks the API server, with one SelfSubjectAccessReview per
// resource and verb in rules, whether the client's identity may make every
// call the actions need, cluster-wide. It returns one human warning per
// missing permission (none when all are held); the error is for a review
// that could not be made at all.
func CheckAccess(ctx context.Context, client Client, rules []rbacv1.PolicyRule) ([]string, error) {
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
