package store

import (
	"context"
	"encoding/json"
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
	const batches, per = 120, 100 // ~48 MB of events: three preallocation rounds
	for b := 0; b < batches; b++ {
		evs := make([]event.Event, per)
		for i := range evs {
			// A body of its own per event, so none is shared and stored once.
			raw := []byte(fmt.Sprintf(`{"n":%d,"payload":"%s"}`, i, strings.Repeat("x", 4000)))
			evs[i] = event.Event{ID: fmt.Sprintf("e-%d-%d", b, i), Source: "test", Raw: raw}
		}
		if _, err := db.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	if db.prealloc == nil || db.prealloc.disabled || db.prealloc.zeroedTo < 32<<20 {
		t.Fatalf("preallocation did not run: disabled %v, zeroed to %d", db.prealloc == nil || db.prealloc.disabled, db.prealloc.zeroedTo)
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
		var body struct {
			N       int    `json:"n"`
			Payload string `json:"payload"`
		}
		if err != nil || json.Unmarshal(ev.Raw, &body) != nil || len(body.Payload) != 4000 || ev.ID != fmt.Sprintf("e-%d-%d", (seq-1)/per, body.N) {
			t.Fatalf("event %d after reopen: %v, id %s, raw intact %v", seq, err, ev.ID, len(body.Payload) == 4000)
		}
	}
	// New writes after the reopen land fine too.
	if _, err := db2.AppendEvents(ctx, []event.Event{{ID: "after", Source: "test"}}); err != nil {
		t.Fatal(err)
	}
}
