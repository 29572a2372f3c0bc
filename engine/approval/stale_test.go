package approval_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
)

// TestLateApprovalOfAStaleEventRunsNothing: with the real engine, the real
// approval service and a real store, a step approved after its event aged
// past max_event_age does not run; the trail says event.stale and the
// approval message says why nothing ran.
func TestLateApprovalOfAStaleEventRunsNothing(t *testing.T) {
	act := &recordingAction{}
	reg := actions.NewRegistry()
	if err := reg.Register(act); err != nil {
		t.Fatal(err)
	}
	var eng *engine.Engine
	h := newHarness(t, func(c *approval.Config) {
		c.Continue = func(ctx context.Context, seq uint64, pb, phase string, from int, by string) error {
			return eng.Continue(ctx, seq, pb, phase, from, by)
		}
	})
	eng = engine.New(engine.Config{Store: h.db, Registry: reg, Now: h.clock.Now, Approver: h.svc, MaxEventAge: 5 * time.Minute})
	eng.SetPlaybooks(loadSet(t, reg, "cart"))
	ev := event.Event{ID: "ev-1", Source: "alertmanager", Status: event.StatusFiring, Name: "KubePodCrashLooping", Fingerprint: "fp1", StartsAt: t0, ReceivedAt: t0}
	seqs, err := h.db.AppendEvents(context.Background(), []event.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Process(context.Background(), seqs[0]); err != nil {
		t.Fatal(err)
	}
	pending, err := approval.List(context.Background(), h.db, approval.Filter{PendingOnly: true})
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending = %+v, %v", pending, err)
	}
	h.clock.Advance(6 * time.Minute) // within the approval's expiry, past max_event_age
	if err := h.decide(pending[0], approval.Approve, alice); err != nil {
		t.Fatal(err)
	}
	if n := len(act.Runs()); n != 0 {
		t.Fatalf("the step ran %d times after a late approval of a stale event", n)
	}
	recs, _, err := h.db.ListAudit(context.Background(), audit.Query{EventID: "ev-1", Kind: audit.KindStale, Limit: 10})
	if err != nil || len(recs) != 1 || recs[0].Step == nil {
		t.Fatalf("event.stale records = %+v, %v; want one for the step", recs, err)
	}
	ups := h.slack.Calls("chat.update")
	if len(ups) == 0 {
		t.Fatal("the approval message was never updated")
	}
	if last := ups[len(ups)-1].Text(); !strings.Contains(last, "older than the configured maximum age") {
		t.Errorf("final message does not say the event was stale:\n%s", last)
	}
}
