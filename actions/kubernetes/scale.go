package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/firebreak/firebreak/actions"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// Scale is the kubernetes.scale action.
type Scale struct {
	c *Cluster
}

var _ actions.Action = (*Scale)(nil)

// Spec describes kubernetes.scale.
func (a *Scale) Spec() actions.Spec { return scaleSpec() }

// scaleSpec is built once: Spec is called for every planned step.
var scaleSpec = sync.OnceValue(func() actions.Spec {
	return actions.Spec{
		ID: ScaleID,
		Description: "Scale a Deployment or StatefulSet through its scale subresource, to an absolute replica count " +
			"or by a delta, refusing any result outside min..max; the previous count is recorded so an on_resolved " +
			"step can scale back.",
		Params: []actions.Param{
			{Name: "kind", Type: actions.String, Default: KindDeployment, Enum: []string{KindDeployment, KindStatefulSet},
				Doc: "Kind of the workload."},
			{Name: "namespace", Type: actions.String, Required: true, Doc: "Namespace of the workload; protected namespaces are refused."},
			{Name: "name", Type: actions.String, Required: true, Doc: "Name of the workload."},
			{Name: "replicas", Type: actions.Int, Min: actions.IntPtr(0), Max: actions.IntPtr(math.MaxInt32),
				Doc: "Absolute replica count to set. Exactly one of replicas, delta and restore is required."},
			{Name: "delta", Type: actions.Int,
				Doc: "Change to the current replica count, such as 2 or -1. Exactly one of replicas, delta and restore is required."},
			{Name: actions.RestoreParam, Type: actions.Bool,
				Doc: "In on_resolved: scale back to the count this playbook's earlier scale of the same workload found. " +
					"With no recorded count the step is skipped and audited. Excludes replicas and delta."},
			{Name: "min", Type: actions.Int, Default: 1, Min: actions.IntPtr(0),
				Doc: "Lowest replica count the step may leave; a request below it is refused, not clamped. Set 0 to allow scaling to zero."},
			{Name: "max", Type: actions.Int, Required: true, Min: actions.IntPtr(0), Max: actions.IntPtr(math.MaxInt32),
				Doc: "Highest replica count the step may leave; a request above it is refused, not clamped."},
		},
		Example:      map[string]any{"kind": KindDeployment, "namespace": "shop", "name": "cart", "delta": 2, "min": 2, "max": 10},
		Destructive:  true,
		Reversible:   true,
		RestoreDrops: []string{"replicas", "delta"},
		Permissions:  permissionStrings(ScaleID),
	}
})

// Validate checks the parameters; see actions.Action. Beyond the types it
// checks that exactly one of replicas, delta and restore: true is given,
// that min is not above max, and that a literal replicas value lies within
// them.
func (a *Scale) Validate(params map[string]any, final bool) error {
	errs := []error{actions.CheckParams(a.Spec(), params, final)}
	errs = append(errs, a.c.checkObjectParams(params)...)
	_, hasReplicas := params["replicas"]
	_, hasDelta := params["delta"]
	restore := restoring(params)
	switch {
	case restore && hasReplicas:
		errs = append(errs, &actions.ParamError{Param: "replicas", Msg: "cannot be combined with restore: true (the recorded count is used)"})
	case restore && hasDelta:
		errs = append(errs, &actions.ParamError{Param: "delta", Msg: "cannot be combined with restore: true (the recorded count is used)"})
	case hasReplicas && hasDelta:
		errs = append(errs, &actions.ParamError{Param: "delta", Msg: "cannot be combined with replicas"})
	case final && !restore && !hasReplicas && !hasDelta:
		errs = append(errs, &actions.ParamError{Param: "replicas", Msg: "one of replicas, delta and restore: true is required"})
	}
	if d, ok := actions.AsInt(params["delta"]); ok && d == 0 {
		errs = append(errs, &actions.ParamError{Param: "delta", Msg: "must not be 0"})
	}
	lo, loOK := actions.AsInt(params["min"])
	if _, present := params["min"]; !present {
		lo, loOK = 1, true
	}
	hi, hiOK := actions.AsInt(params["max"])
	if loOK && hiOK && lo > hi {
		errs = append(errs, &actions.ParamError{Param: "min", Msg: fmt.Sprintf("must not be above max (%d > %d)", lo, hi)})
	}
	if n, ok := actions.AsInt(params["replicas"]); ok && loOK && hiOK {
		if n < lo {
			errs = append(errs, &actions.ParamError{Param: "replicas", Msg: fmt.Sprintf("must be at least min (%d)", lo)})
		} else if n > hi {
			errs = append(errs, &actions.ParamError{Param: "replicas", Msg: fmt.Sprintf("must be at most max (%d)", hi)})
		}
	}
	return errors.Join(errs...)
}

// Target returns the workload a run touches.
func (a *Scale) Target(params map[string]any) actions.Target { return targetOf(params) }

// Run scales the workload, or with req.DryRun asks the API server what the
// change would be. A result outside min..max is refused with ErrOutOfBounds.
func (a *Scale) Run(ctx context.Context, req actions.Request) (actions.Result, error) {
	t := a.Target(req.Params)
	if err := a.c.refuseProtected(t); err != nil {
		return actions.Result{}, err
	}
	if err := a.Validate(req.Params, true); err != nil {
		return actions.Result{}, actions.Permanent(err)
	}
	lo := actions.IntParam(req.Params, "min", 1)
	hi := actions.IntParam(req.Params, "max", 0)
	abs, hasAbs := actions.AsInt(req.Params["replicas"])
	delta := actions.IntParam(req.Params, "delta", 0)
	restore := restoring(req.Params)
	if restore {
		n, ok := actions.AsInt(req.Restore["replicas"])
		if !ok {
			return actions.Result{}, actions.Permanent(fmt.Errorf("restore %s: %w", t, ErrNothingToRestore))
		}
		abs, hasAbs = n, true
	}
	want := func(current int) int {
		if hasAbs {
			return abs
		}
		return current + delta
	}

	if a.c.client == nil {
		if req.DryRun {
			what := fmt.Sprintf("to %d replicas", abs)
			if !hasAbs {
				what = fmt.Sprintf("by %+d replicas", delta)
			}
			return actions.Result{
				Summary: fmt.Sprintf("would scale %s %s within %d..%d (no cluster configured: nothing checked)", t, what, lo, hi),
				Output:  map[string]any{"dry_run": true},
			}, nil
		}
		return actions.Result{}, actions.Permanent(fmt.Errorf("scale %s: %w", t, ErrNoCluster))
	}

	var before, after *autoscalingv1.Scale
	var res actions.Result
	// The update carries the resourceVersion it read, so the bound check and
	// the delta always apply to the count the server has; on a conflict we
	// read again and decide again.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		before, err = a.c.getScale(ctx, t)
		if err != nil {
			res, err = a.c.fail("get scale of", t, err)
			return err
		}
		current := int(before.Spec.Replicas)
		target := want(current)
		if target < lo {
			res = actions.Result{Before: scaleFields(before)}
			return actions.Permanent(fmt.Errorf("scale %s from %d to %d: below min %d: %w", t, current, target, lo, ErrOutOfBounds))
		}
		if target > hi {
			res = actions.Result{Before: scaleFields(before)}
			return actions.Permanent(fmt.Errorf("scale %s from %d to %d: above max %d: %w", t, current, target, hi, ErrOutOfBounds))
		}
		if target == current {
			after = before
			return nil
		}
		next := before.DeepCopy()
		next.Spec.Replicas = int32(target)
		after, err = a.c.updateScale(ctx, t, next, req.DryRun)
		if err != nil {
			res, err = a.c.fail("update scale of", t, err)
			res.Before = scaleFields(before)
			return err
		}
		return nil
	})
	if err != nil {
		return res, err
	}

	prev, now := before.Spec.Replicas, after.Spec.Replicas
	res = actions.Result{
		Before: scaleFields(before),
		After:  scaleFields(after),
		Output: map[string]any{"previous_replicas": int(prev), "replicas": int(now)},
	}
	switch {
	case prev == now:
		res.Summary = fmt.Sprintf("%s already has %d replicas; nothing to change", t, now)
	case req.DryRun:
		res.Summary = fmt.Sprintf("would scale %s from %d to %d replicas (server-side dry run)", t, prev, now)
	default:
		res.Summary = fmt.Sprintf("scaled %s from %d to %d replicas", t, prev, now)
	}
	if restore {
		res.Summary = fmt.Sprintf("restored %s from %d to the recorded %d replicas", t, prev, now)
		if req.DryRun {
			res.Summary = fmt.Sprintf("would restore %s from %d to the recorded %d replicas (server-side dry run)", t, prev, now)
		} else if prev == now {
			res.Summary = fmt.Sprintf("%s already has the recorded %d replicas; nothing to restore", t, now)
		}
	}
	if req.DryRun {
		res.Output["dry_run"] = true
	} else if prev != now && !restore {
		// What a restore step needs to put this back.
		res.Undo = map[string]any{"replicas": int(prev)}
	}
	return res, nil
}

// restoring reports whether params ask to restore a recorded count.
func restoring(params map[string]any) bool {
	b, _ := params[actions.RestoreParam].(bool)
	return b
}

func scaleFields(s *autoscalingv1.Scale) map[string]any {
	return map[string]any{"resourceVersion": s.ResourceVersion, "replicas": int(s.Spec.Replicas)}
}

func (c *Cluster) getScale(ctx context.Context, t actions.Target) (*autoscalingv1.Scale, error) {
	apps := c.client.AppsV1()
	switch t.Kind {
	case KindDeployment:
		return apps.Deployments(t.Namespace).GetScale(ctx, t.Name, metav1.GetOptions{})
	case KindStatefulSet:
		return apps.StatefulSets(t.Namespace).GetScale(ctx, t.Name, metav1.GetOptions{})
	}
	return nil, actions.Permanent(fmt.Errorf("kind %q cannot be scaled", t.Kind))
}

func (c *Cluster) updateScale(ctx context.Context, t actions.Target, s *autoscalingv1.Scale, dryRun bool) (*autoscalingv1.Scale, error) {
	apps := c.client.AppsV1()
	opts := metav1.UpdateOptions{DryRun: dryRunOpts(dryRun), FieldManager: "firebreak"}
	switch t.Kind {
	case KindDeployment:
		return apps.Deployments(t.Namespace).UpdateScale(ctx, t.Name, s, opts)
	case KindStatefulSet:
		return apps.StatefulSets(t.Namespace).UpdateScale(ctx, t.Name, s, opts)
	}
	return nil, actions.Permanent(fmt.Errorf("kind %q cannot be scaled", t.Kind))
}
