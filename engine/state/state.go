package state

import (
	"time"

	"github.com/firebreak/firebreak/engine/audit"
)

// Tx is one atomic unit of state change: everything done through it is
// committed together or not at all. Functions given a Tx may run more than
// once and must not do I/O of their own.
type Tx interface {
	// Get returns a copy of the value at bucket/key, or nil.
	Get(bucket, key string) []byte
	// Put stores value at bucket/key.
	Put(bucket, key string, value []byte) error
	// Delete removes bucket/key.
	Delete(bucket, key string) error
	// ForEach visits every key of bucket in order.
	ForEach(bucket string, fn func(key string, value []byte) error) error
	// DeletePrefix removes every key of bucket that starts with prefix.
	DeletePrefix(bucket, prefix string) error
	// Audit appends a record to the hash-chained audit trail.
	Audit(rec audit.Record) error
	// Finish marks the inbox event with sequence seq as processed.
	Finish(seq uint64) error
	// Now returns the store's clock reading.
	Now() time.Time
}
