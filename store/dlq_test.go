package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

// Entries are keyed by the step's claim, counted when a step fails again,
// found by id, and leave with their event when retention removes it.
func TestDLQEntriesAndRetention(t *testing.T) {
	db, clk := openAuditTest(t)
	ctx := context.Background()
	seqs, err := appendPending(ctx, db, []event.Event{{ID: "ev1", ReceivedAt: clk.Now()}, {ID: "ev2", ReceivedAt: clk.Now().Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key, ev string, seq uint64) {
		t.Helper()
		if err := db.Update(ctx, func(tx state.Tx) error {
			return PutDLQ(tx, DLQEntry{Key: key, EventID: ev, Seq: seq, Playbook: "pb", Action: "webhook.notify", FailedAt: clk.Now()})
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("ev1|pb|steps|0", "ev1", seqs[0])
	put("ev1|pb|steps|0", "ev1", seqs[0]) // failed again after a retry
	put("ev2|pb|steps|1", "ev2", seqs[1])
	list, err := db.ListDLQ(ctx)
	if err != nil || len(list) != 2 || list[0].Failures != 2 || list[0].ID != DLQID("ev1|pb|steps|0") {
		t.Fatalf("list = %+v, %v", list, err)
	}
	_ = db.View(ctx, func(tx state.Tx) error {
		if e, err := GetDLQ(tx, list[1].ID); err != nil || e.EventID != "ev2" {
			t.Errorf("GetDLQ = %+v, %v", e, err)
		}
		if _, err := GetDLQ(tx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetDLQ(nope) = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err := db.Update(ctx, func(tx state.Tx) error { return tx.Finish(seqs[0]) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx state.Tx) error { return tx.Finish(seqs[1]) }); err != nil {
		t.Fatal(err)
	}
	clk.Advance(90 * time.Minute)
	res, err := db.Compact(ctx, Retention{InboxMaxAge: time.Hour, ForgetEvent: ForgetDLQ})
	if err != nil || res.InboxRemoved != 1 {
		t.Fatalf("compact = %+v, %v", res, err)
	}
	if n, err := db.DLQCount(ctx); err != nil || n != 1 {
		t.Fatalf("entries after retention = %d, %v; want ev2's only", n, err)
	}
}
