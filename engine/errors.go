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
)
