package engine

import (
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

// scratchTx runs a transaction function against a read-only view of the
// store and keeps its writes to itself: reads see the view with the
// function's own writes over it, and nothing is stored. It lets a step's
// claim function tell, without the writer, what it would decide now.
type scratchTx struct {
	state.Tx
	puts map[string][]byte // bucket ‖ 0 ‖ key → value, nil for deleted
}

func newScratch(tx state.Tx) *scratchTx { return &scratchTx{Tx: tx, puts: map[string][]byte{}} }

func scratchKey(bucket, key string) string { return bucket + "\x00" + key }

func (s *scratchTx) Get(bucket, key string) []byte {
	if v, ok := s.puts[scratchKey(bucket, key)]; ok {
		return v
	}
	return s.Tx.Get(bucket, key)
}

func (s *scratchTx) Put(bucket, key string, value []byte) error {
	s.puts[scratchKey(bucket, key)] = append([]byte{}, value...)
	return nil
}

func (s *scratchTx) Delete(bucket, key string) error {
	s.puts[scratchKey(bucket, key)] = nil
	return nil
}

// DeletePrefix is not needed by a claim function; it is refused rather
// than half done.
func (s *scratchTx) DeletePrefix(bucket, prefix string) error { return errScratchWrite }

func (s *scratchTx) Audit(audit.Record) error { return nil }
func (s *scratchTx) Finish(uint64) error      { return nil }
func (s *scratchTx) Now() time.Time           { return s.Tx.Now() }

// FencingToken passes the view's token through (fencingToken).
func (s *scratchTx) FencingToken() int64 { return fencingToken(s.Tx) }
