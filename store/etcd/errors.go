package etcd

import "errors"

// Sentinel errors of the etcd store.
var (
	// ErrClosed is returned by every call made after Close.
	ErrClosed = errors.New("etcd store closed")
	// ErrClaimed is returned by Claim when the step was claimed before
	// (by this replica or another); the step must not run.
	ErrClaimed = errors.New("step already claimed")
	// ErrFenced is returned by CommitOutcome when the claim no longer
	// holds: its lease was revoked or expired, or the claim is another's.
	// The outcome was not committed.
	ErrFenced = errors.New("claim no longer held: lease lost or claim changed")
	// ErrTooLarge is returned for an event that cannot fit in one etcd
	// transaction on its own.
	ErrTooLarge = errors.New("event too large for one etcd transaction")
	// ErrInvalidEvent is returned for an event without an id.
	ErrInvalidEvent = errors.New("event has no id")
)
