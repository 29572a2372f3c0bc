package store

import (
	"bytes"
	"crypto/sha256"
	"os"
	"sync/atomic"
	"testing"

	"github.com/firebreak/firebreak/engine/state"
)

type auditStateTx = state.Tx

func auditSHA256(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// auditRawFile returns the database file's bytes after a commit.
func auditRawFile(t *testing.T, db *DB) []byte {
	t.Helper()
	if err := db.bolt.Sync(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func auditContains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

func auditAtomicAdd(p *int64) int64 { return atomic.AddInt64(p, 1) }
