package kubernetes

import "errors"

// Sentinel errors. Every refusal is also wrapped with actions.Permanent, since
// retrying cannot change the answer; API errors that a retry may cure
// (conflicts, timeouts, throttling, server errors) are not.
var (
	// ErrNoCluster is returned by a run that is not a dry run when no cluster
	// is configured.
	ErrNoCluster = errors.New("no kubernetes cluster configured")
	// ErrNotFound is returned when the target object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrProtectedNamespace is returned when the target is in a namespace the
	// configuration protects.
	ErrProtectedNamespace = errors.New("namespace is protected")
	// ErrRolloutInProgress is returned by kubernetes.restart when the workload
	// is already rolling out.
	ErrRolloutInProgress = errors.New("rollout already in progress")
	// ErrPaused is returned by kubernetes.restart for a paused Deployment,
	// which would not roll out the change.
	ErrPaused = errors.New("deployment is paused")
	// ErrNotEnoughReady is returned by kubernetes.restart when fewer replicas
	// are ready than the min_ready parameter asks for.
	ErrNotEnoughReady = errors.New("not enough ready replicas")
	// ErrOutOfBounds is returned by kubernetes.scale when the requested
	// replica count is below min or above max.
	ErrOutOfBounds = errors.New("replica count out of bounds")
	// ErrNothingToRestore is returned by a kubernetes.scale restore run
	// that was given no recorded replica count.
	ErrNothingToRestore = errors.New("no recorded replica count to restore")
	// ErrForbidden is returned when the API server refuses the request for
	// lack of permission.
	ErrForbidden = errors.New("forbidden by the api server")
	// ErrInvalid is returned when the API server rejects the request as
	// invalid or malformed.
	ErrInvalid = errors.New("rejected by the api server")
)
