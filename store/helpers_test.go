package store

import (
	"context"
	"crypto/sha256"
	"strings"

	"github.com/firebreak/firebreak/engine/event"
)

// replaceOnce replaces the first old in s with new.
func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }

// sum returns the SHA-256 of b.
func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// contains reports whether sub is in s.
func contains(s, sub string) bool { return strings.Contains(s, sub) }

// sealedOf returns a copy of the sealed form (sha256 ‖ JSON) of a stored
// audit value, for tests that read or edit records in the file; it panics
// on a value that does not unpack.
func sealedOf(stored []byte) []byte {
	v, err := unpackRecord(stored, nil)
	if err != nil {
		panic(err)
	}
	return append([]byte(nil), v...)
}

// appendPending appends events and returns once they are pending in the
// file, as the engine reads them (Pending): tests that finish or compact
// them at once need that, not only their durability.
func appendPending(ctx context.Context, db *DB, evs []event.Event) ([]uint64, error) {
	seqs, err := db.AppendEvents(ctx, evs)
	if err != nil {
		return nil, err
	}
	return seqs, db.syncInbox(ctx)
}
