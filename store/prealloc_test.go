package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/engine/event"
)

// TestPreallocationKeepsTheDatabaseIntact writes well past several
// preallocated chunks with fsync on, reopens the file, and reads every
// event back: zeroing beyond the high-water mark never touches live pages.
func TestPreallocationKeepsTheDatabaseIntact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	raw := []byte(`{"payload":"` + strings.Repeat("x", 4000) + `"}`)
	const batches, per = 120, 100 // ~48 MB of events: three preallocation rounds
	for b := 0; b < batches; b++ {
		evs := make([]event.Event, per)
		for i := range evs {
			evs[i] = event.Event{ID: fmt.Sprintf("e-%d-%d", b, i), Source: "test", Raw: raw}
		}
		if _, err := db.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	if db.prealloc == nil || db.prealloc.disabled || db.prealloc.zeroedTo < 32<<20 {
		t.Fatalf("preallocation did not run: %+v", db.prealloc)
	}
	st, _ := os.Stat(path)
	if st.Size() < db.prealloc.zeroedTo {
		t.Fatalf("file is %d bytes, zeroed to %d", st.Size(), db.prealloc.zeroedTo)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if n := db2.PendingCount(); n != batches*per {
		t.Fatalf("pending after reopen = %d, want %d", n, batches*per)
	}
	seqs, err := db2.Pending(ctx, 0, batches*per)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{seqs[0], seqs[len(seqs)/2], seqs[len(seqs)-1]} {
		ev, err := db2.Event(ctx, seq)
		if err != nil || string(ev.Raw) != string(raw) {
			t.Fatalf("event %d after reopen: %v, raw intact %v", seq, err, string(ev.Raw) == string(raw))
		}
	}
	// New writes after the reopen land fine too.
	if _, err := db2.AppendEvents(ctx, []event.Event{{ID: "after", Source: "test"}}); err != nil {
		t.Fatal(err)
	}
}
