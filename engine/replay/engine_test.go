package replay_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/replay"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/playbooks/playtest"
	"github.com/firebreak/firebreak/store"
)

// countingAction counts its runs; a rendered name of "" is invalid.
type countingAction struct{ runs atomic.Int32 }

func (*countingAction) Spec() actions.Spec {
	return actions.Spec{ID: "test.restart", Description: "counts runs", Params: []actions.Param{
		{Name: "name", Type: actions.String, Doc: "what to restart"},
	}, Example: map[string]any{"name": "cart"}}
}

func (*countingAction) Validate(p map[string]any, final bool) error {
	if n, _ := p["name"].(string); final && n == "" {
		return errors.New("name: must not be empty")
	}
	return nil
}

func (*countingAction) Target(p map[string]any) actions.Target {
	return actions.Target{Kind: "Deployment", Namespace: "shop", Name: actions.StringParam(p, "name", "")}
}

func (a *countingAction) Run(context.Context, actions.Request) (actions.Result, error) {
	a.runs.Add(1)
	return actions.Result{Summary: "restarted"}, nil
}

// engineOver returns a real bbolt store and the real engine over it, with
// one playbook whose steps use a countingAction.
func engineOver(t *testing.T, playbook string, t0 time.Time) (*store.DB, *engine.Engine, *countingAction, *playbooks.Set, *actions.Registry) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	act := &countingAction{}
	reg := actions.NewRegistry()
	if err := reg.Register(act); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Parse(reg, "pb.yaml", []byte(playbook))
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{Store: db, Registry: reg, Now: func() time.Time { return t0 }})
	eng.SetPlaybooks(set)
	return db, eng, act, set, reg
}

// TestReplayStopsWhereTheEngineStops runs an event through the real engine
// and a real bbolt store, then replays it from that store: a step that
// fails before it can plan stops the playbook in the engine unless it has
// continue_on_error, and replay must plan exactly the steps the engine
// reached — not report a later step the engine never got to.
func TestReplayStopsWhereTheEngineStops(t *testing.T) {
	for _, tt := range []struct {
		name            string
		continueOnError bool
		wantRuns        int32
		wantNow         []string // decisions of steps 0, 1, … evaluated now
	}{
		{"stops without continue_on_error", false, 0, []string{"invalid_params"}},
		{"goes on with continue_on_error", true, 1, []string{"invalid_params", "planned"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			coe := "false"
			if tt.continueOnError {
				coe = "true"
			}
			t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
			db, eng, act, set, reg := engineOver(t, `
name: restart
description: d
match: event.name == "Crash"
steps:
  - action: test.restart
    continue_on_error: `+coe+`
    with: { name: "{{ event.labels.deployment }}" }
  - action: test.restart
    with: { name: cart }
`, t0)
			// No deployment label: step 0 renders an empty name.
			seqs, err := db.AppendEvents(ctx, []event.Event{{ID: "e1", Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: "fp", ReceivedAt: t0}})
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Process(ctx, seqs[0]); err != nil {
				t.Fatal(err)
			}
			if got := act.runs.Load(); got != tt.wantRuns {
				t.Fatalf("the engine ran the action %d times, want %d", got, tt.wantRuns)
			}
			rep, err := replay.Run(ctx, db, replay.Options{Since: t0, Playbooks: set, Catalog: reg})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Events) != 1 || !rep.Events[0].Recorded {
				t.Fatalf("replayed %+v, want the one recorded event", rep.Events)
			}
			e := rep.Events[0]
			var now, then []string
			for _, s := range e.Now.Steps {
				now = append(now, s.Decision)
			}
			for _, s := range e.Then.Steps {
				then = append(then, s.Decision)
			}
			if !reflect.DeepEqual(now, tt.wantNow) {
				t.Errorf("replay now plans %q, want %q (the engine recorded %q)", now, tt.wantNow, then)
			}
			if len(e.Now.Steps) != len(e.Then.Steps) {
				t.Errorf("replay now has %d steps, the engine reached %d", len(e.Now.Steps), len(e.Then.Steps))
			}
			if len(e.Differences) != 0 {
				t.Errorf("differences = %q, want none: nothing changed", e.Differences)
			}
		})
	}
}

// TestReplayShadowPlaybookDoesNotActOnResolve: a shadow-mode playbook only
// dry-runs its steps, so the engine never marks the alert acted on and runs
// no on_resolved step when it resolves; replay must agree rather than
// report on_resolved steps that "would now run".
func TestReplayShadowPlaybookDoesNotActOnResolve(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	db, eng, act, set, reg := engineOver(t, `
name: watch
description: d
mode: shadow
match: event.name == "Crash"
steps:
  - action: test.restart
    with: { name: cart }
on_resolved:
  - action: test.restart
    with: { name: cart }
`, t0)
	seqs, err := db.AppendEvents(ctx, []event.Event{
		{ID: "f", Source: "am", Name: "Crash", Status: event.StatusFiring, Fingerprint: "fp", ReceivedAt: t0},
		{ID: "r", Source: "am", Name: "Crash", Status: event.StatusResolved, Fingerprint: "fp", ReceivedAt: t0.Add(time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range seqs {
		if err := eng.Process(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	if n := act.runs.Load(); n != 2 {
		t.Fatalf("dry runs = %d, want 2 (two events matched; on_resolved never ran)", n)
	}
	rep, err := replay.Run(ctx, db, replay.Options{Since: t0, Playbooks: set, Catalog: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Events {
		for _, s := range e.Now.Steps {
			if s.Phase == replay.PhaseOnResolved {
				t.Errorf("event %s: replay plans on_resolved step %d; the engine ran none", e.EventID, s.Index)
			}
		}
		if len(e.Differences) != 0 {
			t.Errorf("event %s: differences %q, want none", e.EventID, e.Differences)
		}
	}
}

// TestEngineReplayAndPlaytestAgree: the three readers of a playbook plan
// through the one stage (engine/plan), so for the same event they reach the
// same steps with the same verdicts: a false when skips, a step that fails
// to plan stops the playbook unless it has continue_on_error.
func TestEngineReplayAndPlaytestAgree(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	db, eng, _, set, reg := engineOver(t, `
name: mixed
description: d
match: event.name == "Crash"
steps:
  - action: test.restart
    when: event.severity == "critical"
    with: { name: a }
  - action: test.restart
    with: { name: "{{ event.labels.app }}" }
  - action: test.restart
    continue_on_error: true
    with: { name: "{{ event.labels.missing }}" }
  - action: test.restart
    with: { name: b }
  - action: test.restart
    with: { name: "{{ event.labels.missing }}" }
  - action: test.restart
    with: { name: never }
`, t0)
	ev := event.Event{ID: "e1", Source: "am", Name: "Crash", Status: event.StatusFiring, Severity: "warning", Labels: map[string]string{"app": "cart"}, ReceivedAt: t0}
	seqs, err := db.AppendEvents(ctx, []event.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Process(ctx, seqs[0]); err != nil {
		t.Fatal(err)
	}
	want := []string{"when_false", "planned", "invalid_params", "planned", "invalid_params"}

	rep, err := replay.Run(ctx, db, replay.Options{Since: t0, Playbooks: set, Catalog: reg})
	if err != nil {
		t.Fatal(err)
	}
	var engineSaw, replaySaw, playtestSaw []string
	for _, s := range rep.Events[0].Then.Steps {
		d := s.Decision
		if d == "ok" { // the engine ran it: it had planned it
			d = "planned"
		}
		engineSaw = append(engineSaw, d)
	}
	for _, s := range rep.Events[0].Now.Steps {
		replaySaw = append(replaySaw, s.Decision)
	}
	for _, s := range *playtest.Evaluate(set, reg, []event.Event{ev})[0].Matched[0].Steps {
		switch {
		case s.Skipped != "":
			playtestSaw = append(playtestSaw, s.Skipped)
		case s.Error != "":
			playtestSaw = append(playtestSaw, strings.SplitN(s.Error, ":", 2)[0])
		default:
			playtestSaw = append(playtestSaw, "planned")
		}
	}
	for name, got := range map[string][]string{"engine": engineSaw, "replay": replaySaw, "playtest": playtestSaw} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s decided %q, want %q", name, got, want)
		}
	}
}
