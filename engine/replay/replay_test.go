package replay

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks"
)

// fakeSource serves events and audit records from memory; it has no way
// to write, like every Source.
type fakeSource struct {
	events []event.Event
	recs   map[string][]audit.Record
}

func (f *fakeSource) EventsSince(_ context.Context, since int64, fn func(uint64, event.Event) error) error {
	for i, ev := range f.events {
		if ev.ReceivedAt.UnixNano() >= since {
			if err := fn(uint64(i+1), ev); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *fakeSource) AuditForEvent(_ context.Context, id string) ([]audit.Record, error) {
	return f.recs[id], nil
}

const testPlaybooks = `
name: restart
description: d
match: event.name == "Crash"
mode: approve
steps:
  - action: webhook.notify
    with: { url: "http://sink/restart", body: { ns: "{{ event.labels.namespace }}" } }
  - action: webhook.notify
    with: { url: "http://sink/after" }
`

var replayT0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

func loadSet(t *testing.T, text string) (*playbooks.Set, *actions.Registry) {
	t.Helper()
	reg := actions.NewRegistry()
	if err := reg.Register(webhook.New(webhook.Config{})); err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.Parse(reg, "test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return set, reg
}

func TestThenFollowsApprovals(t *testing.T) {
	set, reg := loadSet(t, testPlaybooks)
	ev := event.Event{ID: "e1", Name: "Crash", Status: "firing", Labels: map[string]string{"namespace": "shop"}, ReceivedAt: replayT0}
	params := map[string]any{"url": "http://sink/restart", "body": map[string]any{"ns": "shop"}}
	s0, s1 := audit.StepIndex(0), audit.StepIndex(1)
	src := &fakeSource{events: []event.Event{ev}, recs: map[string][]audit.Record{"e1": {
		{Kind: audit.KindReceived, EventID: "e1", Outcome: "accepted"},
		{Kind: audit.KindMatched, EventID: "e1", Playbook: "restart", Outcome: "matched"},
		{Kind: audit.KindApproval, EventID: "e1", Playbook: "restart", Step: s0, Action: "webhook.notify", Outcome: "requested", Data: map[string]any{"params": params}},
		{Kind: audit.KindApproval, EventID: "e1", Playbook: "restart", Step: s0, Action: "webhook.notify", Outcome: "counted"},
		{Kind: audit.KindApproval, EventID: "e1", Playbook: "restart", Step: s0, Action: "webhook.notify", Outcome: "approved"},
		{Kind: audit.KindStepStarted, EventID: "e1", Playbook: "restart", Step: s0, Action: "webhook.notify", Outcome: "started", Data: map[string]any{"params": params}},
		{Kind: audit.KindStepSucceeded, EventID: "e1", Playbook: "restart", Step: s0, Action: "webhook.notify", Outcome: "ok", Data: map[string]any{"params": params}},
		{Kind: audit.KindApproval, EventID: "e1", Playbook: "restart", Step: s1, Action: "webhook.notify", Outcome: "denied"},
	}}}
	rep, err := Run(context.Background(), src, Options{Since: replayT0, Playbooks: set, Catalog: reg})
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Events[0]
	wantThen := Decision{Matched: []string{"restart"}, Steps: []Step{
		{Playbook: "restart", Phase: PhaseSteps, Index: 0, Action: "webhook.notify", Decision: "ok", Params: params},
		{Playbook: "restart", Phase: PhaseSteps, Index: 1, Action: "webhook.notify", Decision: "denied"},
	}}
	if !reflect.DeepEqual(e.Then, wantThen) {
		t.Errorf("then = %+v\nwant   %+v", e.Then, wantThen)
	}
	if len(e.Differences) != 0 || rep.Summary.Changed != 0 {
		t.Errorf("differences = %q, want none (a denial is a decision on a planned step)", e.Differences)
	}
}

func TestReplayDifferences(t *testing.T) {
	_, reg := loadSet(t, testPlaybooks)
	tests := []struct {
		name      string
		candidate string
		ev        event.Event
		then      []audit.Record
		want      []string
	}{
		{"no longer matches",
			`
name: restart
description: d
match: event.name == "Crash" && event.labels.namespace != "shop"
steps: [{ action: webhook.notify, with: { url: "http://sink/restart" } }]
`, event.Event{ID: "a", Name: "Crash", Labels: map[string]string{"namespace": "shop"}},
			[]audit.Record{{Kind: audit.KindReceived, EventID: "a"}, {Kind: audit.KindMatched, EventID: "a", Playbook: "restart"}},
			[]string{`no longer matches playbook "restart"`}},
		{"step removed",
			`
name: restart
description: d
match: event.name == "Crash"
steps: [{ action: webhook.notify, with: { url: "http://sink/restart" } }]
`, event.Event{ID: "b", Name: "Crash"},
			[]audit.Record{{Kind: audit.KindReceived, EventID: "b"}, {Kind: audit.KindMatched, EventID: "b", Playbook: "restart"},
				{Kind: audit.KindStepSucceeded, EventID: "b", Playbook: "restart", Step: audit.StepIndex(0), Action: "webhook.notify", Outcome: "ok"},
				{Kind: audit.KindStepRefused, EventID: "b", Playbook: "restart", Step: audit.StepIndex(1), Action: "webhook.notify", Outcome: "budget_exhausted"}},
			[]string{`restart step 1 (webhook.notify): was budget_exhausted, the step no longer exists`}},
		{"render now fails",
			`
name: restart
description: d
match: event.name == "Crash"
steps: [{ action: webhook.notify, with: { url: "{{ event.labels.url }}" } }]
`, event.Event{ID: "c", Name: "Crash", Labels: map[string]string{"url": "not a url"}},
			[]audit.Record{{Kind: audit.KindReceived, EventID: "c"}, {Kind: audit.KindMatched, EventID: "c", Playbook: "restart"},
				{Kind: audit.KindStepSucceeded, EventID: "c", Playbook: "restart", Step: audit.StepIndex(0), Action: "webhook.notify", Outcome: "ok"}},
			[]string{`restart step 0 (webhook.notify): was ok, now invalid_params`}},
		{"stale events plan no steps", `
name: restart
description: d
match: event.name == "Crash"
steps: [{ action: webhook.notify, when: "false", with: { url: "http://sink/x" } }]
`, event.Event{ID: "d", Name: "Crash", Stale: true},
			[]audit.Record{{Kind: audit.KindReceived, EventID: "d"}, {Kind: audit.KindMatched, EventID: "d", Playbook: "restart"}, {Kind: audit.KindStale, EventID: "d"}},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, _ := loadSet(t, tc.candidate)
			tc.ev.ReceivedAt = replayT0
			src := &fakeSource{events: []event.Event{tc.ev}, recs: map[string][]audit.Record{tc.ev.ID: tc.then}}
			rep, err := Run(context.Background(), src, Options{Since: replayT0, Playbooks: set, Catalog: reg})
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Events[0].Differences; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("differences = %q\nwant          %q", got, tc.want)
			}
		})
	}
}

const onResolvedPlaybook = `
name: restart
description: d
match: event.name == "Crash" && event.status == "firing"
steps: [{ action: webhook.notify, with: { url: "http://sink/restart" } }]
on_resolved:
  - { action: webhook.notify, with: { url: "http://sink/%s" } }
`

// A resolved alert's on_resolved steps are replayed: recorded under the
// resolve's event, and planned now when the playbook would have acted on
// the alert while it fired.
func TestReplayOnResolved(t *testing.T) {
	_, reg := loadSet(t, testPlaybooks)
	firing := event.Event{ID: "f1", Name: "Crash", Status: "firing", Fingerprint: "fp1", ReceivedAt: replayT0}
	resolved := event.Event{ID: "r1", Name: "Crash", Status: "resolved", Fingerprint: "fp1", ReceivedAt: replayT0.Add(time.Minute)}
	again := event.Event{ID: "r2", Name: "Crash", Status: "resolved", Fingerprint: "fp1", ReceivedAt: replayT0.Add(2 * time.Minute)}
	onRes := map[string]any{"phase": PhaseOnResolved, "params": map[string]any{"url": "http://sink/resolved"}}
	recs := map[string][]audit.Record{
		"f1": {
			{Kind: audit.KindReceived, EventID: "f1"}, {Kind: audit.KindMatched, EventID: "f1", Playbook: "restart"},
			{Kind: audit.KindStepSucceeded, EventID: "f1", Playbook: "restart", Step: audit.StepIndex(0), Action: "webhook.notify", Outcome: "ok", Data: map[string]any{"phase": PhaseSteps}},
		},
		"r1": {
			{Kind: audit.KindReceived, EventID: "r1"}, {Kind: audit.KindUnmatched, EventID: "r1"},
			{Kind: audit.KindStepSucceeded, EventID: "r1", Playbook: "restart", Step: audit.StepIndex(0), Action: "webhook.notify", Outcome: "ok", Data: onRes},
		},
		"r2": {{Kind: audit.KindReceived, EventID: "r2"}, {Kind: audit.KindUnmatched, EventID: "r2"}},
	}
	tests := []struct {
		name      string
		candidate string
		events    []event.Event
		want      map[string][]string // event id → differences
	}{
		{"unchanged", fmt.Sprintf(onResolvedPlaybook, "resolved"), []event.Event{firing, resolved, again}, nil},
		{"parameters change", fmt.Sprintf(onResolvedPlaybook, "cleared"), []event.Event{firing, resolved, again}, map[string][]string{
			"r1": {`restart on_resolved step 0 (webhook.notify): parameters change: url "http://sink/resolved" → "http://sink/cleared"`},
		}},
		{"no longer acts", strings.Replace(fmt.Sprintf(onResolvedPlaybook, "resolved"), `event.name == "Crash"`, `event.name == "Other"`, 1), []event.Event{firing, resolved, again}, map[string][]string{
			"f1": {`no longer matches playbook "restart"`},
			"r1": {`restart on_resolved step 0 (webhook.notify): was ok, now the playbook does not act on this alert's resolve`},
		}},
		{"on_resolved removed", strings.Split(fmt.Sprintf(onResolvedPlaybook, "resolved"), "on_resolved:")[0], []event.Event{firing, resolved, again}, map[string][]string{
			"r1": {`restart on_resolved step 0 (webhook.notify): was ok, now the playbook does not act on this alert's resolve`},
		}},
		{"firing before the range: the trail tells", fmt.Sprintf(onResolvedPlaybook, "cleared"), []event.Event{resolved, again}, map[string][]string{
			"r1": {`restart on_resolved step 0 (webhook.notify): parameters change: url "http://sink/resolved" → "http://sink/cleared"`},
		}},
		{"a new on_resolved step", fmt.Sprintf(onResolvedPlaybook+"  - { action: webhook.notify, with: { url: \"http://sink/second\" } }\n", "resolved"), []event.Event{firing, resolved}, map[string][]string{
			"r1": {`restart on_resolved step 1 (webhook.notify): would now run, did not then`},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, _ := loadSet(t, tc.candidate)
			src := &fakeSource{events: tc.events, recs: recs}
			rep, err := Run(context.Background(), src, Options{Since: replayT0, Playbooks: set, Catalog: reg})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, e := range rep.Events {
				if len(e.Differences) > 0 {
					got[e.EventID] = e.Differences
				}
			}
			if len(tc.want) == 0 && len(got) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("differences = %q\nwant          %q", got, tc.want)
			}
		})
	}
	// The replayed resolve closes the alert out: a second resolve runs
	// nothing, as in the engine.
	set, _ := loadSet(t, fmt.Sprintf(onResolvedPlaybook, "resolved"))
	rep, err := Run(context.Background(), &fakeSource{events: []event.Event{firing, resolved, again}, recs: recs}, Options{Since: replayT0, Playbooks: set, Catalog: reg})
	if err != nil {
		t.Fatal(err)
	}
	if r1, r2 := rep.Events[1].Now.Steps, rep.Events[2].Now.Steps; len(r1) != 1 || r1[0].Phase != PhaseOnResolved || r1[0].Decision != DecisionPlanned || len(r2) != 0 {
		t.Errorf("now: resolve %+v, second resolve %+v", r1, r2)
	}
}

func TestReplayRangeAndLimits(t *testing.T) {
	set, _ := loadSet(t, testPlaybooks)
	src := &fakeSource{}
	for i := range 5 {
		src.events = append(src.events, event.Event{ID: string(rune('a' + i)), Name: "Crash", ReceivedAt: replayT0.Add(time.Duration(i) * time.Hour)})
	}
	rep, err := Run(context.Background(), src, Options{Since: replayT0.Add(time.Hour), Until: replayT0.Add(3 * time.Hour), Playbooks: set})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Events) != 2 || rep.Events[0].EventID != "b" || rep.Summary.Unrecorded != 2 {
		t.Errorf("events = %+v, summary %+v", rep.Events, rep.Summary)
	}
	if _, err := Run(context.Background(), src, Options{Playbooks: set, MaxEvents: 3}); err == nil {
		t.Error("more events than MaxEvents were accepted")
	}
	if _, err := Run(context.Background(), src, Options{}); !errors.Is(err, ErrNoPlaybooks) {
		t.Errorf("no playbooks: %v", err)
	}
}

// A clustered store hands events out in inbox order, which interleaves
// replicas by block of sequence numbers, not by time: replay goes by the
// time each was received, keeping each event's sequence.
func TestReplayGoesByReceivedTime(t *testing.T) {
	set, _ := loadSet(t, testPlaybooks)
	src := &fakeSource{}
	// Replica A's block (seq 1-3) holds the events received at 0, 2 and 4
	// minutes; replica B's (seq 4-6) those at 1, 3 and 5.
	for _, m := range []int{0, 2, 4, 1, 3, 5} {
		src.events = append(src.events, event.Event{ID: fmt.Sprintf("m%d", m), Name: "Crash", ReceivedAt: replayT0.Add(time.Duration(m) * time.Minute)})
	}
	rep, err := Run(context.Background(), src, Options{Playbooks: set})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rep.Events {
		got = append(got, fmt.Sprintf("%s@%d", e.EventID, e.Seq))
	}
	want := []string{"m0@1", "m1@4", "m2@2", "m3@5", "m4@3", "m5@6"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replayed %v, want %v", got, want)
	}
}

// TestStepThatWentStaleIsNoDifference: the engine records event.stale for
// a step when the event aged past max_event_age before the step could run
// (a backlog, a late approval). Like a guard's refusal, that happens after
// planning: a step planned now is no difference.
func TestStepThatWentStaleIsNoDifference(t *testing.T) {
	set, reg := loadSet(t, testPlaybooks)
	ev := event.Event{ID: "e1", Name: "Crash", Status: "firing", Labels: map[string]string{"namespace": "shop"}, ReceivedAt: replayT0}
	src := &fakeSource{events: []event.Event{ev}, recs: map[string][]audit.Record{"e1": {
		{Kind: audit.KindReceived, EventID: "e1", Outcome: "accepted"},
		{Kind: audit.KindMatched, EventID: "e1", Playbook: "restart", Outcome: "matched"},
		{Kind: audit.KindStale, EventID: "e1", Playbook: "restart", Step: audit.StepIndex(0), Action: "webhook.notify", Outcome: "stale"},
	}}}
	rep, err := Run(context.Background(), src, Options{Since: replayT0, Playbooks: set, Catalog: reg})
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Events[0]
	if len(e.Then.Steps) != 1 || e.Then.Steps[0].Decision != DecisionStale {
		t.Fatalf("then = %+v, want step 0 stale", e.Then.Steps)
	}
	if len(e.Differences) != 0 || rep.Summary.StepChanges != 0 {
		t.Errorf("differences = %q, want none", e.Differences)
	}
}
