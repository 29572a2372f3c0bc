package store

import (
	"bytes"
	"crypto/sha256"
	"os"
	"sync/atomic"
	"testing"

	"github.com/firebreak/firebreak/engine/state"
)

type stateTx = state.Tx

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// rawFile returns the database file's bytes after a commit.
func rawFile(t *testing.T, db *DB) []byte {
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

func containsBytes(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

func atomicAdd(p *int64) int64 { return atomic.AddInt64(p, 1) }
