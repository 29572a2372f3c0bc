package engine

import "errors"

// Sentinel errors of the engine.
var (
	// ErrNoPlaybooks is returned when the engine runs before a playbook set
	// was installed.
	ErrNoPlaybooks = errors.New("no playbooks loaded")
	// ErrNotFailed is returned by ReleaseFailedClaim for a step whose claim
	// is not a failure.
	ErrNotFailed = errors.New("step did not fail")
	// ErrClaimLost is returned when a step's outcome cannot be recorded
	// because its claim is no longer this run's: another replica took the
	// event over and recorded the step interrupted, or the store session
	// that started it ended (a clustered store's fencing token changed).
	// The event is left to its new owner.
	ErrClaimLost = errors.New("step claim lost to another session")
)
