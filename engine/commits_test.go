package engine_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

// TestCommitsPerEvent pins how many store commits one event costs: an
// event's records ride on its first commit and a step's outcome on the
// next (carry.go), so an unmatched event is one commit and an executed
// step two; a phase's last dry run is decided in the event's next commit
// too (deferDryRun), so a shadow event with one step is one commit and
// one with two steps two — and the trail still holds every record, in
// order. It also pins the per-event state each keeps among the step
// claims: an event whose records ride on its finish keeps none (with
// hashed ids, each key there is a leaf of its own to rewrite).
func TestCommitsPerEvent(t *testing.T) {
	for _, tt := range []struct {
		name, mode, match string
		commits           uint64
		want              []audit.Kind
		state             int // keys of the event's among the step claims
	}{
		{"unmatched", "auto", `event.name == "Other"`, 1, []audit.Kind{audit.KindReceived, audit.KindUnmatched}, 0},
		{"shadow step", "shadow", `event.name == "Crash"`, 1, []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepDryRun}, 0},
		// The first dry run commits its claim (with the marker) before the
		// next step is planned; the last rides on the finish.
		{"two shadow steps", "shadow", `event.name == "Crash"`, 2, []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepDryRun, audit.KindStepDryRun}, 2},
		{"executed step", "auto", `event.name == "Crash"`, 2, []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepStarted, audit.KindStepSucceeded}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: t0}
			db := openStore(t, clk)
			act := &countAction{}
			steps := "steps:\n  - action: test.restart\n    with: { name: cart }\n"
			if strings.HasPrefix(tt.name, "two") {
				steps += "  - action: test.restart\n    with: { name: web }\n"
			}
			set, reg := parseSet(t, act, "name: p\ndescription: d\nmode: "+tt.mode+"\nmatch: '"+tt.match+"'\n"+steps)
			eng := engine.New(engine.Config{Store: db, Registry: reg, Now: clk.Now})
			eng.SetPlaybooks(set)
			for i := range 3 {
				id := "e" + strconv.Itoa(i)
				seqs, err := db.AppendEvents(ctx, []event.Event{{ID: id, Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: id, StartsAt: t0, ReceivedAt: t0}})
				if err != nil {
					t.Fatal(err)
				}
				// Count the engine's commits only: the event's move from
				// the store's write-ahead log into the file is ingest's
				// (shared by every event the log flushed meanwhile).
				if _, err := db.Pending(ctx, 0, 1); err != nil {
					t.Fatal(err)
				}
				before, _ := db.CommitStats()
				if err := eng.Process(ctx, seqs[0]); err != nil {
					t.Fatal(err)
				}
				after, _ := db.CommitStats()
				if got := after - before; got != tt.commits {
					t.Errorf("event %s took %d commits, want %d", id, got, tt.commits)
				}
				if got := kinds(t, db, id); !equal(got, tt.want) {
					t.Errorf("event %s records %q, want %q", id, got, tt.want)
				}
				if n := db.PendingCount(); n != 0 {
					t.Errorf("pending after processing = %d, want 0", n)
				}
				var keys []string
				if err := db.View(ctx, func(tx state.Tx) error {
					for _, b := range []string{"steps", "events"} {
						if err := tx.ForEach(b, func(k string, _ []byte) error {
							if strings.HasPrefix(k, id+"|") || k == id {
								keys = append(keys, b+"/"+k)
							}
							return nil
						}); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(keys) != tt.state {
					t.Errorf("event %s keeps %q in the engine's state, want %d keys", id, keys, tt.state)
				}
			}
		})
	}
}

func equal(a, b []audit.Kind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
