package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
)

// TestRetryAfterIsCappedAtTheStepTimeout: a remote system that answers
// Retry-After: 10m does not hold a worker ten minutes per retry; the wait
// is capped at the step's timeout. A shorter Retry-After is honoured.
// Waits go through the injected Sleep: nothing sleeps for real.
func TestRetryAfterIsCappedAtTheStepTimeout(t *testing.T) {
	for _, tt := range []struct {
		name       string
		retryAfter time.Duration
		want       time.Duration // each wait
	}{
		{"ten minutes asked, step timeout 5s", 10 * time.Minute, 5 * time.Second},
		{"three seconds asked", 3 * time.Second, 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: t0}
			db := openStore(t, clk)
			act := &countAction{result: actions.Result{RetryAfter: tt.retryAfter}, err: errors.New("429 too many requests")}
			set, reg := parseSet(t, act, `
name: restart
description: d
match: event.name == "Crash"
steps:
  - action: test.restart
    timeout: 5s
    retries: 2
    with: { name: cart }
`)
			var mu sync.Mutex
			var waits []time.Duration
			eng := engine.New(engine.Config{Store: db, Registry: reg, Now: clk.Now,
				Sleep: func(ctx context.Context, d time.Duration) error {
					mu.Lock()
					waits = append(waits, d)
					mu.Unlock()
					clk.Set(clk.Now().Add(d))
					return ctx.Err()
				}})
			eng.SetPlaybooks(set)
			seqs, err := db.AppendEvents(ctx, []event.Event{{ID: "e1", Source: "am", Name: "Crash", Status: event.StatusFiring, ReceivedAt: t0}})
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Process(ctx, seqs[0]); err != nil {
				t.Fatal(err)
			}
			if got := act.runs.Load(); got != 3 {
				t.Errorf("attempts = %d, want 3 (1 + 2 retries)", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(waits) != 2 {
				t.Fatalf("waits = %v, want 2", waits)
			}
			for i, w := range waits {
				if w != tt.want {
					t.Errorf("wait %d = %v, want %v", i, w, tt.want)
				}
			}
			recs, err := db.AuditForEvent(ctx, "e1")
			if err != nil {
				t.Fatal(err)
			}
			if last := recs[len(recs)-1]; last.Kind != audit.KindStepFailed {
				t.Errorf("last record %s, want step.failed", last.Kind)
			}
		})
	}
}
