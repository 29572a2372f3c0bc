package replay

import "errors"

// Sentinel errors of replay.
var (
	// ErrNoPlaybooks is returned when replay is given no playbook set.
	ErrNoPlaybooks = errors.New("replay: no playbook set")
	// ErrTooManyEvents is returned when the time range holds more events
	// than Options.MaxEvents.
	ErrTooManyEvents = errors.New("replay: too many events in the range")
)
