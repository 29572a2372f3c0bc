package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the engine and the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// countAction counts its runs and answers with result and err.
type countAction struct {
	runs   atomic.Int32
	result actions.Result
	err    error
}

func (*countAction) Spec() actions.Spec {
	return actions.Spec{ID: "test.restart", Description: "counts runs", Params: []actions.Param{
		{Name: "name", Type: actions.String, Doc: "what to restart"},
	}, Example: map[string]any{"name": "cart"}}
}
func (*countAction) Validate(map[string]any, bool) error { return nil }
func (*countAction) Target(p map[string]any) actions.Target {
	return actions.Target{Kind: "Deployment", Namespace: "shop", Name: actions.StringParam(p, "name", "")}
}
func (a *countAction) Run(context.Context, actions.Request) (actions.Result, error) {
	a.runs.Add(1)
	return a.result, a.err
}

// openStore opens a real bbolt store in a temporary directory.
func openStore(t *testing.T, clk *clock) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "e.db"), store.Options{NoSync: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// parseSet parses one playbook against a registry holding act.
func parseSet(t *testing.T, act actions.Action, text string) (*playbooks.Set, *actions.Registry) {
	t.Helper()
	reg := actions.NewRegistry()
	if err := reg.Register(act); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Parse(reg, "pb.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return set, reg
}

// kinds returns the kinds of the event's audit records, in order.
func kinds(t *testing.T, db *store.DB, eventID string) []audit.Kind {
	t.Helper()
	recs, err := db.AuditForEvent(context.Background(), eventID)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Kind
	for _, r := range recs {
		out = append(out, r.Kind)
	}
	return out
}

func contains(xs []audit.Kind, x audit.Kind) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// parkingApprover parks every step and remembers nothing else: the
// approval gate's edge, for tests that approve by calling Continue.
type parkingApprover struct{ parked atomic.Int32 }

func (a *parkingApprover) Park(state.Tx, *engine.Plan, []engine.Verdict) (string, error) {
	a.parked.Add(1)
	return "ap-1", nil
}
func (*parkingApprover) Notify(context.Context, string) error       { return nil }
func (*parkingApprover) Cancel(context.Context, *event.Event) error { return nil }

// crashEvents returns n firing Crash events, ids e0… and fingerprints
// fp-0… (so that they spread over the workers).
func crashEvents(n int) []event.Event {
	var evs []event.Event
	for i := range n {
		evs = append(evs, event.Event{ID: fmt.Sprintf("e%d", i), Source: "am", Name: "Crash", Status: event.StatusFiring,
			Fingerprint: fmt.Sprintf("fp-%d", i), StartsAt: t0, ReceivedAt: t0})
	}
	return evs
}
