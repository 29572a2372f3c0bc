package engine_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
)

// TestCommitsPerEvent pins how many store commits one event costs: an
// event's records ride on its first commit and a step's outcome on the
// next (carry.go), so an unmatched event is one commit and an event with
// one step two, shadow or executing — and the trail still holds every
// record, in order.
func TestCommitsPerEvent(t *testing.T) {
	for _, tt := range []struct {
		name, mode, match string
		commits           uint64
		want              []audit.Kind
	}{
		{"unmatched", "auto", `event.name == "Other"`, 1, []audit.Kind{audit.KindReceived, audit.KindUnmatched}},
		{"shadow step", "shadow", `event.name == "Crash"`, 2, []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepDryRun}},
		{"executed step", "auto", `event.name == "Crash"`, 2, []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepStarted, audit.KindStepSucceeded}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: t0}
			db := openStore(t, clk)
			act := &countAction{}
			set, reg := parseSet(t, act, "name: p\ndescription: d\nmode: "+tt.mode+"\nmatch: '"+tt.match+"'\nsteps:\n  - action: test.restart\n    with: { name: cart }\n")
			eng := engine.New(engine.Config{Store: db, Registry: reg, Now: clk.Now})
			eng.SetPlaybooks(set)
			for i := range 3 {
				id := "e" + strconv.Itoa(i)
				seqs, err := db.AppendEvents(ctx, []event.Event{{ID: id, Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: id, StartsAt: t0, ReceivedAt: t0}})
				if err != nil {
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
