package guard

import "errors"

// Sentinel errors of the guard package.
var (
	// ErrUnknownBreaker is returned by ResetBreaker for an id that names no
	// breaker.
	ErrUnknownBreaker = errors.New("unknown breaker")
	// ErrPausedByConfig is returned by Resume while the configuration file
	// sets paused: the kill switch can then only be lifted by editing it.
	ErrPausedByConfig = errors.New("paused by the configuration file")
	// ErrInvalidConfig is returned by New for a configuration that cannot
	// be enforced (a bad CIDR, label selector or rate).
	ErrInvalidConfig = errors.New("invalid guards configuration")
)
