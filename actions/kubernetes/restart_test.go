package kubernetes_test

import (
	"context"
	"errors"
	"testing"

	"github.com/firebreak/firebreak/actions"
	kube "github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/actions/kubernetes/kubetest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestRestartSetsAnnotation(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Restart()
	for _, kind := range []string{kube.KindDeployment, kube.KindStatefulSet, kube.KindDaemonSet} {
		t.Run(kind, func(t *testing.T) {
			ns := namespace(t, c)
			create(t, c, kind, ns, "web", 3, settled)
			before := get(t, c, kind, ns, "web")

			res, err := run(t, a, map[string]any{"kind": kind, "namespace": ns, "name": "web", "min_ready": 2}, false)
			if err != nil {
				t.Fatalf("restart: %v", err)
			}
			after := get(t, c, kind, ns, "web")
			if after.restartedAt != stamp {
				t.Errorf("annotation %s = %q, want %q", kube.RestartedAtAnnotation, after.restartedAt, stamp)
			}
			if after.resourceVersion == before.resourceVersion {
				t.Errorf("resourceVersion unchanged (%s): nothing was written", after.resourceVersion)
			}
			if got := res.Before["resourceVersion"]; got != before.resourceVersion {
				t.Errorf("Result.Before.resourceVersion = %v, want %s", got, before.resourceVersion)
			}
			if got := res.After["resourceVersion"]; got != after.resourceVersion {
				t.Errorf("Result.After.resourceVersion = %v, want %s", got, after.resourceVersion)
			}
			if res.Before["restartedAt"] != "" || res.After["restartedAt"] != stamp {
				t.Errorf("Result restartedAt %v → %v, want \"\" → %s", res.Before["restartedAt"], res.After["restartedAt"], stamp)
			}
			want := "restarted " + kind + "/" + ns + "/web (" + kube.RestartedAtAnnotation + "=" + stamp + ")"
			if res.Summary != want {
				t.Errorf("Summary = %q, want %q", res.Summary, want)
			}
			if res.Output["restarted_at"] != stamp {
				t.Errorf("Output = %v", res.Output)
			}
		})
	}
}

func TestRestartDryRunChangesNothing(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Restart()
	for _, kind := range []string{kube.KindDeployment, kube.KindStatefulSet, kube.KindDaemonSet} {
		t.Run(kind, func(t *testing.T) {
			ns := namespace(t, c)
			create(t, c, kind, ns, "web", 2, settled)
			before := get(t, c, kind, ns, "web")

			res, err := run(t, a, map[string]any{"kind": kind, "namespace": ns, "name": "web"}, true)
			if err != nil {
				t.Fatalf("dry-run restart: %v", err)
			}
			after := get(t, c, kind, ns, "web")
			if after != before {
				t.Errorf("object changed by a dry run: %+v → %+v", before, after)
			}
			// The server reported the change it would have made.
			if res.After["restartedAt"] != stamp {
				t.Errorf("dry run After.restartedAt = %v, want %s", res.After["restartedAt"], stamp)
			}
			if bg, ag := res.Before["generation"].(int64), res.After["generation"].(int64); ag != bg+1 {
				t.Errorf("dry run generation %d → %d, want a bump", bg, ag)
			}
			if res.Output["dry_run"] != true {
				t.Errorf("Output = %v, want dry_run", res.Output)
			}
			t.Log(res.Summary)
		})
	}
}

func TestRestartRefusals(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Restart()
	cases := []struct {
		name      string
		kind      string
		replicas  int32
		status    status
		paused    bool
		minReady  int
		want      error
		fragments []string
	}{
		{name: "generation not observed", kind: kube.KindDeployment, replicas: 3,
			status: status{observedLag: 1, updated: -1, ready: -1, total: -1},
			want:   kube.ErrRolloutInProgress, fragments: []string{"generation 1 not yet observed"}},
		{name: "pods not updated", kind: kube.KindDeployment, replicas: 3,
			status: status{updated: 1, ready: -1, total: -1},
			want:   kube.ErrRolloutInProgress, fragments: []string{"1 of 3 pods updated"}},
		{name: "old pods remain", kind: kube.KindDeployment, replicas: 3,
			status: status{updated: 3, ready: 3, total: 4},
			want:   kube.ErrRolloutInProgress, fragments: []string{"1 old pods pending termination"}},
		{name: "new pods not available while progressing", kind: kube.KindDeployment, replicas: 3,
			status: status{updated: 3, ready: 1, total: 3, progressing: "ReplicaSetUpdated"},
			want:   kube.ErrRolloutInProgress, fragments: []string{"1 of 3 updated pods ready"}},
		{name: "statefulset rolling", kind: kube.KindStatefulSet, replicas: 3,
			status: status{updated: 2, ready: -1, total: -1},
			want:   kube.ErrRolloutInProgress, fragments: []string{"2 of 3 pods updated"}},
		{name: "daemonset rolling", kind: kube.KindDaemonSet, replicas: 4,
			status: status{updated: 1, ready: -1, total: -1},
			want:   kube.ErrRolloutInProgress, fragments: []string{"1 of 4 pods updated"}},
		{name: "below min_ready", kind: kube.KindDeployment, replicas: 3,
			status: status{updated: 3, ready: 1, total: 3, progressing: "NewReplicaSetAvailable"}, minReady: 2,
			want: kube.ErrNotEnoughReady, fragments: []string{"1 ready, min_ready is 2"}},
		{name: "paused", kind: kube.KindDeployment, replicas: 1, status: settled, paused: true,
			want: kube.ErrPaused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, c)
			create(t, c, tc.kind, ns, "web", tc.replicas, tc.status)
			if tc.paused {
				d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				d.Spec.Paused = true
				if _, err := c.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				d, _ = c.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
				d.Status.ObservedGeneration = d.Generation
				if _, err := c.AppsV1().Deployments(ns).UpdateStatus(t.Context(), d, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			before := get(t, c, tc.kind, ns, "web")
			params := map[string]any{"kind": tc.kind, "namespace": ns, "name": "web"}
			if tc.minReady > 0 {
				params["min_ready"] = tc.minReady
			}
			for _, dryRun := range []bool{true, false} {
				res, err := run(t, a, params, dryRun)
				mustRefuse(t, err, tc.want, tc.fragments...)
				if res.Before["resourceVersion"] != before.resourceVersion {
					t.Errorf("refusal Before = %v, want the observed resourceVersion %s", res.Before, before.resourceVersion)
				}
			}
			if after := get(t, c, tc.kind, ns, "web"); after != before {
				t.Errorf("refused restart changed the object: %+v → %+v", before, after)
			}
		})
	}
}

// TestRestartCrashLoopAllowed: pods that are unavailable on a finished
// rollout are not a rollout in progress; restarting them is the point.
func TestRestartCrashLoopAllowed(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Restart()
	ns := namespace(t, c)
	create(t, c, kube.KindDeployment, ns, "web", 3, status{updated: 3, ready: 0, total: 3, progressing: "NewReplicaSetAvailable"})
	if _, err := run(t, a, map[string]any{"namespace": ns, "name": "web"}, false); err != nil {
		t.Fatalf("restart of a crash-looping deployment: %v", err)
	}
	if got := get(t, c, kube.KindDeployment, ns, "web").restartedAt; got != stamp {
		t.Errorf("annotation = %q, want %q", got, stamp)
	}
}

func TestRestartProtectedNamespace(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Restart()
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "protected"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	create(t, c, kube.KindDeployment, "protected", "restart-me", 2, settled)
	before := get(t, c, kube.KindDeployment, "protected", "restart-me")
	params := map[string]any{"kind": kube.KindDeployment, "namespace": "protected", "name": "restart-me"}

	// Refused at load time, when the namespace is a literal …
	err := a.Validate(params, false)
	var pe *actions.ParamError
	if !errors.As(err, &pe) || pe.Param != "namespace" {
		t.Errorf("Validate = %v, want a ParamError on namespace", err)
	}
	// … and at run time, when it was templated, dry run included.
	for _, dryRun := range []bool{false, true} {
		_, err := a.Run(context.Background(), actions.Request{Params: params, DryRun: dryRun})
		mustRefuse(t, err, kube.ErrProtectedNamespace, "Deployment/protected/restart-me")
	}
	if after := get(t, c, kube.KindDeployment, "protected", "restart-me"); after != before {
		t.Errorf("object in a protected namespace changed: %+v → %+v", before, after)
	}
}

func TestRestartMissingObject(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Restart()
	ns := namespace(t, c)
	for _, kind := range []string{kube.KindDeployment, kube.KindStatefulSet, kube.KindDaemonSet} {
		for _, dryRun := range []bool{false, true} {
			res, err := run(t, a, map[string]any{"kind": kind, "namespace": ns, "name": "ghost"}, dryRun)
			mustRefuse(t, err, kube.ErrNotFound, "get "+kind+"/"+ns+"/ghost")
			if res.Summary != "" || res.After != nil {
				t.Errorf("failed run reported a result: %+v", res)
			}
		}
	}
	// A missing namespace is the same clean failure.
	_, err := run(t, a, map[string]any{"namespace": "no-such-namespace", "name": "ghost"}, false)
	mustRefuse(t, err, kube.ErrNotFound)
}

func TestRestartHonoursContext(t *testing.T) {
	c := admin(t)
	a := newCluster(t, kubetest.AdminUser).Restart()
	ns := namespace(t, c)
	create(t, c, kube.KindDeployment, ns, "web", 1, settled)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := a.Run(ctx, actions.Request{Params: map[string]any{"namespace": ns, "name": "web"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context = %v, want context.Canceled", err)
	}
	if errors.Is(err, actions.ErrPermanent) {
		t.Errorf("a cancelled run is not a permanent failure: %v", err)
	}
	if got := get(t, c, kube.KindDeployment, ns, "web").restartedAt; got != "" {
		t.Errorf("cancelled run changed the object: restartedAt = %q", got)
	}
}

// TestPatchResourceVersionIsAPrecondition pins the API server behaviour
// restart relies on: a strategic-merge patch that names a resourceVersion
// fails with a conflict once the object has moved on, so a rollout that
// starts between the pre-flight read and the write is never stacked on.
func TestPatchResourceVersionIsAPrecondition(t *testing.T) {
	c := admin(t)
	ns := namespace(t, c)
	create(t, c, kube.KindDeployment, ns, "web", 1, settled)
	stale := get(t, c, kube.KindDeployment, ns, "web").resourceVersion
	scale := `{"spec":{"replicas":2}}`
	if _, err := c.AppsV1().Deployments(ns).Patch(t.Context(), "web", types.StrategicMergePatchType, []byte(scale), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := `{"metadata":{"resourceVersion":"` + stale + `"},"spec":{"template":{"metadata":{"annotations":{"` + kube.RestartedAtAnnotation + `":"x"}}}}}`
	_, err := c.AppsV1().Deployments(ns).Patch(t.Context(), "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("patch with a stale resourceVersion: %v, want a conflict", err)
	}
}
