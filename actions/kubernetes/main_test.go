package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	kube "github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/actions/kubernetes/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"
)

// cluster is the one API server every test in this package shares. RBAC is
// on: the admin user is in system:masters, the others start with nothing.
var cluster kubetest.Shared

// rbacUsers are the token users the least-privilege tests bind roles to.
var rbacUsers = []string{"firebreak", "outsider", "minus-0", "minus-1", "minus-2", "minus-3", "minus-4",
	"minus-5", "minus-6", "minus-7", "minus-8", "minus-9"}

func TestMain(m *testing.M) {
	os.Exit(cluster.Run(m, kubetest.Options{Authorization: kubetest.RBAC, Users: rbacUsers}))
}

// fixedNow is the injected clock: every restart in these tests stamps it.
var fixedNow = time.Date(2026, 11, 29, 19, 30, 0, 0, time.UTC)

const stamp = "2026-11-29T19:30:00Z"

// admin returns a clientset with every permission.
func admin(t *testing.T) kclient.Interface {
	t.Helper()
	env := cluster.Env(t)
	c, err := kclient.NewForConfig(env.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newCluster returns the actions, connected as user, protecting "protected".
func newCluster(t *testing.T, user string) *kube.Cluster {
	t.Helper()
	env := cluster.Env(t)
	c, err := kube.New(kube.Config{
		REST:                env.UserConfig(user),
		ProtectedNamespaces: []string{"protected"},
		Now:                 func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var nsSeq atomic.Int64

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T, c kclient.Interface) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsSeq.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	_, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return name
}

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}},
	}
}

func ptr[T any](v T) *T { return &v }

// status describes the .status a test writes, as if controllers ran.
type status struct {
	observedLag int64 // observedGeneration = generation - observedLag
	updated     int32 // -1: same as replicas
	ready       int32 // -1: same as replicas
	total       int32 // -1: same as replicas
	progressing string
}

var settled = status{updated: -1, ready: -1, total: -1}

func or(n, def int32) int32 {
	if n < 0 {
		return def
	}
	return n
}

// create makes a workload of kind with replicas and writes st as its status
// through the status subresource. It returns the written object's
// resourceVersion.
func create(t *testing.T, c kclient.Interface, kind, ns, name string, replicas int32, st status) {
	t.Helper()
	ctx := t.Context()
	apps := c.AppsV1()
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	switch kind {
	case kube.KindDeployment:
		d, err := apps.Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr(replicas), Selector: sel, Template: podTemplate(name)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create deployment: %v", err)
		}
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation - st.observedLag,
			Replicas:           or(st.total, replicas),
			UpdatedReplicas:    or(st.updated, replicas),
			ReadyReplicas:      or(st.ready, replicas),
			AvailableReplicas:  or(st.ready, replicas),
		}
		if st.progressing != "" {
			d.Status.Conditions = []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: st.progressing,
				LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			}}
		}
		if _, err := apps.Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update deployment status: %v", err)
		}
	case kube.KindStatefulSet:
		s, err := apps.StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr(replicas), Selector: sel, Template: podTemplate(name), ServiceName: name},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create statefulset: %v", err)
		}
		s.Status = appsv1.StatefulSetStatus{
			ObservedGeneration: s.Generation - st.observedLag,
			Replicas:           or(st.total, replicas),
			UpdatedReplicas:    or(st.updated, replicas),
			ReadyReplicas:      or(st.ready, replicas),
			AvailableReplicas:  or(st.ready, replicas),
			CurrentReplicas:    or(st.total, replicas),
		}
		if _, err := apps.StatefulSets(ns).UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update statefulset status: %v", err)
		}
	case kube.KindDaemonSet:
		d, err := apps.DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       appsv1.DaemonSetSpec{Selector: sel, Template: podTemplate(name)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create daemonset: %v", err)
		}
		d.Status = appsv1.DaemonSetStatus{
			ObservedGeneration:     d.Generation - st.observedLag,
			DesiredNumberScheduled: replicas,
			CurrentNumberScheduled: replicas,
			UpdatedNumberScheduled: or(st.updated, replicas),
			NumberReady:            or(st.ready, replicas),
			NumberAvailable:        or(st.ready, replicas),
		}
		if _, err := apps.DaemonSets(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update daemonset status: %v", err)
		}
	default:
		t.Fatalf("unknown kind %q", kind)
	}
}

// observed is what a test reads back from the API server.
type observed struct {
	resourceVersion string
	restartedAt     string
	replicas        int32
}

func get(t *testing.T, c kclient.Interface, kind, ns, name string) observed {
	t.Helper()
	ctx := context.Background()
	apps := c.AppsV1()
	switch kind {
	case kube.KindDeployment:
		d, err := apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return observed{d.ResourceVersion, d.Spec.Template.Annotations[kube.RestartedAtAnnotation], *d.Spec.Replicas}
	case kube.KindStatefulSet:
		s, err := apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return observed{s.ResourceVersion, s.Spec.Template.Annotations[kube.RestartedAtAnnotation], *s.Spec.Replicas}
	case kube.KindDaemonSet:
		d, err := apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return observed{d.ResourceVersion, d.Spec.Template.Annotations[kube.RestartedAtAnnotation], 0}
	}
	t.Fatalf("unknown kind %q", kind)
	return observed{}
}

// run validates params as the engine does, then runs a.
func run(t *testing.T, a actions.Action, params map[string]any, dryRun bool) (actions.Result, error) {
	t.Helper()
	if err := a.Validate(params, true); err != nil {
		t.Fatalf("validate %v: %v", params, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return a.Run(ctx, actions.Request{Params: params, DryRun: dryRun, Playbook: "test", Attempt: 1})
}

// mustRefuse checks err is a permanent failure wrapping want and mentioning
// every fragment.
func mustRefuse(t *testing.T, err, want error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("run succeeded, want %v", want)
	}
	if !errors.Is(err, actions.ErrPermanent) {
		t.Errorf("error %q is not permanent", err)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q does not wrap %q", err, want)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

func sprintf(format string, args ...any) string {
	if !strings.Contains(format, "%") {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// actionsRequest is a real run of params, skipping Validate (as when a
// templated value renders to something load-time checks could not see).
func actionsRequest(params map[string]any) actions.Request {
	return actions.Request{Params: params, Playbook: "test", Attempt: 1}
}

func deploymentStub(ns string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "deployment", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "stub"}},
			Template: podTemplate("stub")},
	}
}

func daemonSetStub(ns string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "daemonset", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "stub"}},
			Template: podTemplate("stub")},
	}
}
