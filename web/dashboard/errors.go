package dashboard

import "errors"

// Sentinel errors of the dashboard.
var (
	// ErrNotFound is returned by a Timelines reader for an event id that
	// neither the inbox nor the audit trail knows.
	ErrNotFound = errors.New("not found")
	// ErrUnknownSource is returned by a Tester for a source name it has no
	// decoder for.
	ErrUnknownSource = errors.New("unknown source")
	// ErrMissingDeps is returned by Mount when a required dependency is nil.
	ErrMissingDeps = errors.New("dashboard: missing dependency")
)
