package playtest

import "errors"

// Sentinel errors of the test runner.
var (
	// ErrInvalidTestFile is wrapped by every problem with a test file itself
	// (as opposed to a failing test).
	ErrInvalidTestFile = errors.New("invalid test file")
	// ErrUnknownSource is wrapped when an input names a source that has no decoder.
	ErrUnknownSource = errors.New("unknown source")
)
