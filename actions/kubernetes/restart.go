package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/firebreak/firebreak/actions"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout
// restart` sets; changing it rolls every pod.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// Restart is the kubernetes.restart action.
type Restart struct {
	c *Cluster
}

var _ actions.Action = (*Restart)(nil)

// Spec describes kubernetes.restart.
func (a *Restart) Spec() actions.Spec { return restartSpec() }

// restartSpec is built once: Spec is called for every planned step.
var restartSpec = sync.OnceValue(func() actions.Spec {
	return actions.Spec{
		ID: RestartID,
		Description: "Restart a Deployment, StatefulSet or DaemonSet the way `kubectl rollout restart` does " +
			"(sets the pod template's " + RestartedAtAnnotation + " annotation), after checking that it exists, " +
			"is not in a protected namespace, is not already rolling out and has enough ready replicas.",
		Params: []actions.Param{
			{Name: "kind", Type: actions.String, Default: KindDeployment, Enum: []string{KindDeployment, KindStatefulSet, KindDaemonSet},
				Doc: "Kind of the workload."},
			{Name: "namespace", Type: actions.String, Required: true, Doc: "Namespace of the workload; protected namespaces are refused."},
			{Name: "name", Type: actions.String, Required: true, Doc: "Name of the workload."},
			{Name: "min_ready", Type: actions.Int, Min: actions.IntPtr(0),
				Doc: "Refuse unless at least this many replicas (DaemonSet: pods) are ready now; absent means no check."},
		},
		Example:     map[string]any{"kind": KindDeployment, "namespace": "shop", "name": "cart", "min_ready": 1},
		Destructive: true,
		Reversible:  false,
		Permissions: permissionStrings(RestartID),
	}
})

// Validate checks the parameters; see actions.Action.
func (a *Restart) Validate(params map[string]any, final bool) error {
	errs := []error{actions.CheckParams(a.Spec(), params, final)}
	errs = append(errs, a.c.checkObjectParams(params)...)
	return errors.Join(errs...)
}

// Target returns the workload a run touches.
func (a *Restart) Target(params map[string]any) actions.Target { return targetOf(params) }

// Run restarts the workload, or with req.DryRun asks the API server what the
// restart would change.
func (a *Restart) Run(ctx context.Context, req actions.Request) (actions.Result, error) {
	t := a.Target(req.Params)
	if err := a.c.refuseProtected(t); err != nil {
		return actions.Result{}, err
	}
	if err := a.Validate(req.Params, true); err != nil {
		return actions.Result{}, actions.Permanent(err)
	}
	stamp := a.c.now().UTC().Format(time.RFC3339)
	if a.c.client == nil {
		if req.DryRun {
			return actions.Result{
				Summary: fmt.Sprintf("would restart %s (no cluster configured: nothing checked): set pod template annotation %s=%s", t, RestartedAtAnnotation, stamp),
				Output:  map[string]any{"dry_run": true, "restarted_at": stamp},
			}, nil
		}
		return actions.Result{}, actions.Permanent(fmt.Errorf("restart %s: %w", t, ErrNoCluster))
	}

	before, err := a.c.getWorkload(ctx, t)
	if err != nil {
		return a.c.fail("get", t, err)
	}
	if err := before.preflight(t, actions.IntParam(req.Params, "min_ready", -1)); err != nil {
		return actions.Result{Before: before.fields()}, err
	}

	// The same strategic-merge patch `kubectl rollout restart` sends, plus the
	// resourceVersion we checked, so a rollout that starts between our read
	// and our write makes the write fail with a conflict instead of stacking.
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": before.resourceVersion},
		"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{RestartedAtAnnotation: stamp}}}},
	})
	if err != nil {
		return actions.Result{}, fmt.Errorf("restart %s: encode patch: %w", t, err)
	}
	after, err := a.c.patchWorkload(ctx, t, patch, req.DryRun)
	if err != nil {
		res, err := a.c.fail("patch", t, err)
		res.Before = before.fields()
		return res, err
	}

	res := actions.Result{
		Before: before.fields(),
		After:  after.fields(),
		Output: map[string]any{"restarted_at": stamp},
	}
	if req.DryRun {
		res.Summary = fmt.Sprintf("would restart %s (server-side dry run): pod template annotation %s %q → %q, generation %d → %d",
			t, RestartedAtAnnotation, before.restartedAt, after.restartedAt, before.generation, after.generation)
		res.Output["dry_run"] = true
	} else {
		res.Summary = fmt.Sprintf("restarted %s (%s=%s)", t, RestartedAtAnnotation, stamp)
	}
	return res, nil
}

// fail turns an API error into a failed run.
func (c *Cluster) fail(op string, t actions.Target, err error) (actions.Result, error) {
	retryAfter, err := apiError(op, t, err)
	return actions.Result{RetryAfter: retryAfter}, err
}

// workload is what restart needs to know about a Deployment, StatefulSet or
// DaemonSet, whatever its kind.
type workload struct {
	resourceVersion    string
	generation         int64
	observedGeneration int64
	restartedAt        string
	paused             bool
	// desired is spec.replicas (DaemonSet: status.desiredNumberScheduled).
	desired int32
	// updated counts pods already on the current template; expected is how
	// many must be for the rollout to be complete (a StatefulSet partition
	// holds some back); rolling is false for the OnDelete strategy, which
	// never rolls by itself.
	updated, expected int32
	rolling           bool
	// total counts all pods of the workload, old template included.
	total int32
	ready int32
	// progressing is the reason of a Deployment's Progressing condition.
	progressing string
}

// fields returns what the audit trail records before and after the change.
func (w workload) fields() map[string]any {
	return map[string]any{
		"resourceVersion": w.resourceVersion,
		"generation":      w.generation,
		"restartedAt":     w.restartedAt,
	}
}

// preflight refuses a restart that would stack on a rollout in progress or
// take down a workload with too few ready replicas. minReady < 0 skips that
// check.
//
// A rollout is in progress when the controller has not yet seen the latest
// spec (observedGeneration < generation), when fewer pods run the current
// template than the rollout needs, when old pods remain, or, for a
// Deployment, when new pods are not yet available and the Deployment reports
// that it is still progressing. Pods that are merely unavailable on a
// finished rollout (a crash loop) are not a rollout: that is exactly when a
// restart is wanted, and min_ready is the guard for it.
func (w workload) preflight(t actions.Target, minReady int) error {
	switch {
	case w.paused:
		return actions.Permanent(fmt.Errorf("restart %s: %w (resume it first)", t, ErrPaused))
	case w.observedGeneration < w.generation:
		return actions.Permanent(fmt.Errorf("restart %s: %w: generation %d not yet observed (observed %d)",
			t, ErrRolloutInProgress, w.generation, w.observedGeneration))
	case w.rolling && w.updated < w.expected:
		return actions.Permanent(fmt.Errorf("restart %s: %w: %d of %d pods updated",
			t, ErrRolloutInProgress, w.updated, w.expected))
	case w.rolling && w.total > w.updated:
		return actions.Permanent(fmt.Errorf("restart %s: %w: %d old pods pending termination",
			t, ErrRolloutInProgress, w.total-w.updated))
	case deploymentProgressing(w.progressing) && w.ready < w.updated:
		return actions.Permanent(fmt.Errorf("restart %s: %w: %d of %d updated pods ready",
			t, ErrRolloutInProgress, w.ready, w.updated))
	case minReady >= 0 && int(w.ready) < minReady:
		return actions.Permanent(fmt.Errorf("restart %s: %w: %d ready, min_ready is %d",
			t, ErrNotEnoughReady, w.ready, minReady))
	}
	return nil
}

// deploymentProgressing reports whether a Progressing condition reason says
// the Deployment controller is moving pods to a new ReplicaSet.
func deploymentProgressing(reason string) bool {
	switch reason {
	case "ReplicaSetUpdated", "NewReplicaSetCreated", "FoundNewReplicaSet":
		return true
	}
	return false
}

func (c *Cluster) getWorkload(ctx context.Context, t actions.Target) (workload, error) {
	apps := c.client.AppsV1()
	switch t.Kind {
	case KindDeployment:
		d, err := apps.Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		return fromDeployment(d), nil
	case KindStatefulSet:
		s, err := apps.StatefulSets(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		return fromStatefulSet(s), nil
	case KindDaemonSet:
		d, err := apps.DaemonSets(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		return fromDaemonSet(d), nil
	}
	return workload{}, actions.Permanent(fmt.Errorf("kind %q cannot be restarted", t.Kind))
}

func (c *Cluster) patchWorkload(ctx context.Context, t actions.Target, patch []byte, dryRun bool) (workload, error) {
	apps := c.client.AppsV1()
	opts := metav1.PatchOptions{DryRun: dryRunOpts(dryRun), FieldManager: "firebreak"}
	switch t.Kind {
	case KindDeployment:
		d, err := apps.Deployments(t.Namespace).Patch(ctx, t.Name, types.StrategicMergePatchType, patch, opts)
		if err != nil {
			return workload{}, err
		}
		return fromDeployment(d), nil
	case KindStatefulSet:
		s, err := apps.StatefulSets(t.Namespace).Patch(ctx, t.Name, types.StrategicMergePatchType, patch, opts)
		if err != nil {
			return workload{}, err
		}
		return fromStatefulSet(s), nil
	case KindDaemonSet:
		d, err := apps.DaemonSets(t.Namespace).Patch(ctx, t.Name, types.StrategicMergePatchType, patch, opts)
		if err != nil {
			return workload{}, err
		}
		return fromDaemonSet(d), nil
	}
	return workload{}, actions.Permanent(fmt.Errorf("kind %q cannot be restarted", t.Kind))
}

func replicasOrOne(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func fromDeployment(d *appsv1.Deployment) workload {
	w := workload{
		resourceVersion:    d.ResourceVersion,
		generation:         d.Generation,
		observedGeneration: d.Status.ObservedGeneration,
		restartedAt:        d.Spec.Template.Annotations[RestartedAtAnnotation],
		paused:             d.Spec.Paused,
		desired:            replicasOrOne(d.Spec.Replicas),
		updated:            d.Status.UpdatedReplicas,
		total:              d.Status.Replicas,
		ready:              d.Status.ReadyReplicas,
		rolling:            true,
	}
	w.expected = w.desired
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentProgressing {
			w.progressing = cond.Reason
		}
	}
	return w
}

func fromStatefulSet(s *appsv1.StatefulSet) workload {
	w := workload{
		resourceVersion:    s.ResourceVersion,
		generation:         s.Generation,
		observedGeneration: s.Status.ObservedGeneration,
		restartedAt:        s.Spec.Template.Annotations[RestartedAtAnnotation],
		desired:            replicasOrOne(s.Spec.Replicas),
		updated:            s.Status.UpdatedReplicas,
		ready:              s.Status.ReadyReplicas,
		rolling:            s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType,
	}
	w.expected = w.desired
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		w.expected = max(0, w.desired-*ru.Partition)
	}
	// A StatefulSet's old pods are replaced one by one in place, so
	// updated < expected already covers them.
	w.total = w.updated
	return w
}

func fromDaemonSet(d *appsv1.DaemonSet) workload {
	w := workload{
		resourceVersion:    d.ResourceVersion,
		generation:         d.Generation,
		observedGeneration: d.Status.ObservedGeneration,
		restartedAt:        d.Spec.Template.Annotations[RestartedAtAnnotation],
		desired:            d.Status.DesiredNumberScheduled,
		updated:            d.Status.UpdatedNumberScheduled,
		ready:              d.Status.NumberReady,
		rolling:            d.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType,
	}
	w.expected = w.desired
	// Pods on the old template are counted by desired - updated.
	w.total = w.updated
	return w
}
