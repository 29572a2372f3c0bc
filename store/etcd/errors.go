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

// Sentinel errors of the state, audit and leader paths.
var (
	// ErrReadOnly is returned by writes inside View.
	ErrReadOnly = errors.New("read-only transaction")
	// ErrTxnTooLarge is returned to an Update whose function alone needs
	// more compares, operations or bytes than one etcd transaction takes.
	ErrTxnTooLarge = errors.New("transaction too large for one etcd transaction")
	// ErrNotLeader is returned by UpdateAsLeader on a replica that does not
	// lead, or whose leadership ended before the commit.
	ErrNotLeader = errors.New("this replica is not the leader")
)
