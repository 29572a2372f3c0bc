package engine

import "errors"

// Sentinel errors of the engine.
var (
	// ErrNoPlaybooks is returned when the engine runs before a playbook set
	// was installed.
	ErrNoPlaybooks = errors.New("no playbooks loaded")
)
