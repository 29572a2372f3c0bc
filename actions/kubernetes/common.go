package kubernetes

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak/firebreak/actions"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Workload kinds.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
)

// dryRunOpts returns the DryRun field of a write's options.
func dryRunOpts(dryRun bool) []string {
	if dryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// targetOf builds the Target of a run from its kind, namespace and name.
func targetOf(params map[string]any) actions.Target {
	return actions.Target{
		Kind:      actions.StringParam(params, "kind", KindDeployment),
		Namespace: actions.StringParam(params, "namespace", ""),
		Name:      actions.StringParam(params, "name", ""),
	}
}

// checkObjectParams checks the namespace and name values that are present
// (templated ones are absent at load time) and refuses a protected namespace.
func (c *Cluster) checkObjectParams(params map[string]any) []error {
	var errs []error
	if ns, ok := params["namespace"].(string); ok {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, &actions.ParamError{Param: "namespace", Msg: fmt.Sprintf("%q is not a valid namespace: %s", ns, strings.Join(msgs, "; "))})
		} else if c.protectedNamespace(ns) {
			errs = append(errs, &actions.ParamError{Param: "namespace", Msg: fmt.Sprintf("%q is a protected namespace", ns)})
		}
	}
	if name, ok := params["name"].(string); ok {
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			errs = append(errs, &actions.ParamError{Param: "name", Msg: fmt.Sprintf("%q is not a valid object name: %s", name, strings.Join(msgs, "; "))})
		}
	}
	return errs
}

// refuseProtected returns a permanent error when t is in a protected namespace.
func (c *Cluster) refuseProtected(t actions.Target) error {
	if c.protectedNamespace(t.Namespace) {
		return actions.Permanent(fmt.Errorf("%s: %w", t, ErrProtectedNamespace))
	}
	return nil
}

// apiError classifies an API error: what a retry cannot cure is wrapped with
// actions.Permanent and a sentinel of this package; the rest is returned
// wrapped, with the delay the server asked for when it asked for one.
func apiError(op string, t actions.Target, err error) (time.Duration, error) {
	var retryAfter time.Duration
	if secs, ok := apierrors.SuggestsClientDelay(err); ok {
		retryAfter = time.Duration(secs) * time.Second
	}
	switch {
	case apierrors.IsNotFound(err):
		return 0, actions.Permanent(fmt.Errorf("%s %s: %w", op, t, ErrNotFound))
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return 0, actions.Permanent(fmt.Errorf("%s %s: %w: %w", op, t, ErrForbidden, err))
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsMethodNotSupported(err),
		apierrors.IsNotAcceptable(err), apierrors.IsUnsupportedMediaType(err), apierrors.IsRequestEntityTooLargeError(err):
		return 0, actions.Permanent(fmt.Errorf("%s %s: %w: %w", op, t, ErrInvalid, err))
	case errors.Is(err, actions.ErrPermanent):
		return 0, err
	}
	return retryAfter, fmt.Errorf("%s %s: %w", op, t, err)
}
