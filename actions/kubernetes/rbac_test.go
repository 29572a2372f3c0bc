package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	kube "github.com/firebreak/firebreak/actions/kubernetes"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"
)

// grant creates role and binds it to user, then waits until the API server's
// authorizer agrees: CheckAccess, as user, reports exactly wantMissing
// warnings against the full rules.
func grant(t *testing.T, c kclient.Interface, role *rbacv1.ClusterRole, user string, full []rbacv1.PolicyRule, wantMissing int) kclient.Interface {
	t.Helper()
	ctx := t.Context()
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create cluster role: %v", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name + "-" + user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create cluster role binding: %v", err)
	}
	uc, err := kclient.NewForConfig(cluster.Env(t).UserConfig(user))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		warnings, err := kube.CheckAccess(ctx, uc, full)
		if err != nil {
			t.Fatalf("CheckAccess as %s: %v", user, err)
		}
		if len(warnings) == wantMissing {
			return uc
		}
		if time.Now().After(deadline) {
			t.Fatalf("RBAC for %s never settled: %d warnings, want %d: %q", user, len(warnings), wantMissing, warnings)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterRoleSufficient binds a user to exactly ClusterRole(…) and runs
// every action, for real and dry, on every kind; anything else is Forbidden.
func TestClusterRoleSufficient(t *testing.T) {
	c := admin(t)
	role := kube.ClusterRole([]string{kube.RestartID, kube.ScaleID, "slack.notify"})
	uc := grant(t, c, role, "firebreak", role.Rules, 0)
	k := newCluster(t, "firebreak")
	ns := namespace(t, c)

	for _, kind := range []string{kube.KindDeployment, kube.KindStatefulSet, kube.KindDaemonSet} {
		name := strings.ToLower(kind)
		create(t, c, kind, ns, name, 2, settled)
		for _, dryRun := range []bool{true, false} {
			if _, err := run(t, k.Restart(), map[string]any{"kind": kind, "namespace": ns, "name": name, "min_ready": 1}, dryRun); err != nil {
				t.Errorf("restart %s (dry run %v) as firebreak: %v", kind, dryRun, err)
			}
		}
		if kind == kube.KindDaemonSet {
			continue
		}
		for _, dryRun := range []bool{true, false} {
			if _, err := run(t, k.Scale(), map[string]any{"kind": kind, "namespace": ns, "name": name, "delta": 1, "max": 5}, dryRun); err != nil {
				t.Errorf("scale %s (dry run %v) as firebreak: %v", kind, dryRun, err)
			}
		}
	}
	if got := get(t, c, kube.KindDeployment, ns, "deployment"); got.replicas != 3 || got.restartedAt != stamp {
		t.Errorf("as firebreak the actions did not apply: %+v", got)
	}

	// Verbs and resources outside the role are refused.
	ctx := t.Context()
	forbidden := map[string]error{
		"delete deployment": uc.AppsV1().Deployments(ns).Delete(ctx, "deployment", metav1.DeleteOptions{}),
		"update deployment": func() error {
			_, err := uc.AppsV1().Deployments(ns).Update(ctx, deploymentStub(ns), metav1.UpdateOptions{})
			return err
		}(),
		"list deployments": func() error { _, err := uc.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); return err }(),
		"get secrets":      func() error { _, err := uc.CoreV1().Secrets(ns).Get(ctx, "any", metav1.GetOptions{}); return err }(),
		"delete pods":      uc.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}),
		"get replicasets":  func() error { _, err := uc.AppsV1().ReplicaSets(ns).Get(ctx, "any", metav1.GetOptions{}); return err }(),
		"update daemonsets": func() error {
			_, err := uc.AppsV1().DaemonSets(ns).UpdateStatus(ctx, daemonSetStub(ns), metav1.UpdateOptions{})
			return err
		}(),
		"create deployments": func() error {
			_, err := uc.AppsV1().Deployments(ns).Create(ctx, deploymentStub(ns), metav1.CreateOptions{})
			return err
		}(),
	}
	for what, err := range forbidden {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as firebreak: %v, want Forbidden", what, err)
		}
	}

	// A user with no binding gets a warning for every needed permission.
	oc, err := kclient.NewForConfig(cluster.Env(t).UserConfig("outsider"))
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := kube.CheckAccess(ctx, oc, role.Rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != countPermissions(role.Rules) {
		t.Errorf("outsider: %d warnings, want %d: %q", len(warnings), countPermissions(role.Rules), warnings)
	}
	if len(warnings) > 0 && !strings.HasPrefix(warnings[0], "missing kubernetes permission: get apps/daemonsets") {
		t.Errorf("warning = %q", warnings[0])
	}
}

// TestClusterRoleMinimal takes each permission out of the role in turn and
// shows that some action then fails with ErrForbidden: none is superfluous.
func TestClusterRoleMinimal(t *testing.T) {
	c := admin(t)
	full := kube.ClusterRole([]string{kube.RestartID, kube.ScaleID}).Rules
	type perm struct{ group, resource, verb string }
	var perms []perm
	for _, r := range full {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					perms = append(perms, perm{g, res, v})
				}
			}
		}
	}
	if len(perms) > len(rbacUsers)-2 {
		t.Fatalf("%d permissions, only %d test users", len(perms), len(rbacUsers)-2)
	}
	kinds := map[string]string{"deployments": kube.KindDeployment, "statefulsets": kube.KindStatefulSet, "daemonsets": kube.KindDaemonSet}
	for i, p := range perms {
		t.Run(fmt.Sprintf("without %s %s", p.verb, p.resource), func(t *testing.T) {
			t.Parallel()
			var rules []rbacv1.PolicyRule
			for _, q := range perms {
				if q != p {
					rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{q.group}, Resources: []string{q.resource}, Verbs: []string{q.verb}})
				}
			}
			user := fmt.Sprintf("minus-%d", i)
			role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "firebreak-" + user}, Rules: rules}
			grant(t, c, role, user, full, 1)

			resource, sub, _ := strings.Cut(p.resource, "/")
			kind := kinds[resource]
			ns := namespace(t, c)
			create(t, c, kind, ns, "web", 2, settled)
			k := newCluster(t, user)
			var a actions.Action = k.Restart()
			params := map[string]any{"kind": kind, "namespace": ns, "name": "web"}
			if sub == "scale" {
				a = k.Scale()
				params["replicas"], params["max"] = 3, 3
			}
			_, err := run(t, a, params, false)
			if !errors.Is(err, kube.ErrForbidden) || !errors.Is(err, actions.ErrPermanent) {
				t.Fatalf("%s without %s %s: %v, want a permanent ErrForbidden", a.Spec().ID, p.verb, p.resource, err)
			}
		})
	}
}

func countPermissions(rules []rbacv1.PolicyRule) int {
	n := 0
	for _, r := range rules {
		n += len(r.APIGroups) * len(r.Resources) * len(r.Verbs)
	}
	return n
}

// TestCheckAccessCancelled: a review that cannot be made is an error, not a warning.
func TestCheckAccessCancelled(t *testing.T) {
	c := admin(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	warnings, err := kube.CheckAccess(ctx, c, kube.ClusterRole([]string{kube.ScaleID}).Rules)
	if err == nil || !errors.Is(err, context.Canceled) || len(warnings) != 0 {
		t.Fatalf("CheckAccess(cancelled) = %q, %v", warnings, err)
	}
	if rules := kube.ClusterRole([]string{"webhook.notify"}).Rules; len(rules) != 0 {
		t.Errorf("non-kubernetes actions need no rules")
	}
}
