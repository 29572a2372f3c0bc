package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

// TestInboxRetentionForgetsPerEventState: the ForgetEvent hook runs for
// exactly the removed events, in retention's transaction, and DeletePrefix
// removes only keys under the prefix.
func TestInboxRetentionForgetsPerEventState(t *testing.T) {
	db, clk := openAuditTest(t)
	ctx := context.Background()
	var evs []event.Event
	for i := range 4 {
		evs = append(evs, event.Event{ID: fmt.Sprintf("ev%d", i), Source: "alertmanager", ReceivedAt: auditT0.Add(time.Duration(i) * time.Hour)})
	}
	seqs, err := appendPending(ctx, db, evs)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx state.Tx) error {
		for i, s := range seqs {
			if err := tx.Finish(s); err != nil {
				return err
			}
			for _, k := range []string{"|pb|steps|0", "|pb|steps|1"} {
				if err := tx.Put("claims", evs[i].ID+k, []byte("done")); err != nil {
					return err
				}
			}
		}
		if err := tx.Put("marks", "stale", []byte("x")); err != nil {
			return err
		}
		// A key that shares the text but not the "|" separator stays.
		return tx.Put("claims", "ev10|pb|steps|0", []byte("done"))
	})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Hour)
	var forgotten []string
	forget := func(tx state.Tx, id string) error {
		forgotten = append(forgotten, id)
		return tx.DeletePrefix("claims", id+"|")
	}
	sweptAfter := -1
	sweep := func(tx state.Tx) (int, error) {
		sweptAfter = len(forgotten)
		return 1, tx.Delete("marks", "stale")
	}
	// Cutoff at auditT0+1h30: ev0 and ev1 go.
	res, err := db.Compact(ctx, Retention{InboxMaxAge: 8*time.Hour + 30*time.Minute, ForgetEvent: forget, Sweep: sweep})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(forgotten) != "[ev0 ev1]" {
		t.Fatalf("forgotten = %v, want [ev0 ev1]", forgotten)
	}
	if sweptAfter != 2 || res.Swept != 1 {
		t.Fatalf("sweep ran after %d forgotten events and reported %d, want after 2 and 1", sweptAfter, res.Swept)
	}
	_ = db.View(ctx, func(tx state.Tx) error {
		if tx.Get("marks", "stale") != nil {
			t.Error("the sweep's delete was not committed")
		}
		return nil
	})
	var left []string
	_ = db.View(ctx, func(tx state.Tx) error {
		return tx.ForEach("claims", func(k string, _ []byte) error { left = append(left, k); return nil })
	})
	want := "[ev10|pb|steps|0 ev2|pb|steps|0 ev2|pb|steps|1 ev3|pb|steps|0 ev3|pb|steps|1]"
	if fmt.Sprint(left) != want {
		t.Fatalf("claims left = %v, want %s", left, want)
	}
}
