package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/plan"
	"github.com/firebreak/firebreak/playbooks"
)

// Source is what replay reads: the stored events and the audit trail. It
// has no method that writes.
type Source interface {
	// EventsSince calls fn for each stored event received at or after
	// since, in inbox order.
	EventsSince(ctx context.Context, sinceUnixNano int64, fn func(seq uint64, ev event.Event) error) error
	// AuditForEvent returns every audit record of the event, in order.
	AuditForEvent(ctx context.Context, eventID string) ([]audit.Record, error)
}

// Options configure a replay.
type Options struct {
	// Since is the oldest receive time replayed.
	Since time.Time
	// Until, when set, excludes events received at or after it.
	Until time.Time
	// Playbooks is the set evaluated now (current or candidate).
	Playbooks *playbooks.Set
	// Catalog validates rendered parameters and supplies the secret flags
	// used to redact them; nil skips both.
	Catalog playbooks.Catalog
	// Redact, when set, is applied to rendered parameters as the store's
	// redactor applies it to audit records, so they compare with the
	// recorded ones.
	Redact func(audit.Record) audit.Record
	// ActOnStale mirrors the engine's setting: without it, stale events
	// plan no steps.
	ActOnStale bool
	// MaxEvents bounds the events read (default 100,000).
	MaxEvents int
}

// Decision values of a step evaluated now. A step recorded then carries
// the outcome the audit trail holds (ok, failed, dry_run, deduped, …).
const (
	DecisionPlanned     = string(plan.Planned)   // the step would be planned and go to the guards
	DecisionWhenFalse   = string(plan.WhenFalse) // its when condition is false
	DecisionWhenError   = string(plan.WhenError) // its when condition failed
	DecisionRenderError = string(plan.RenderError)
	DecisionInvalid     = string(plan.InvalidParams)
	DecisionUnknown     = string(plan.UnknownAction)
	// DecisionStale is recorded for a step the engine did not run because
	// the event went stale before it could (event.stale for the step):
	// like a guard's refusal it comes after planning, so it is no
	// difference from a step planned now.
	DecisionStale = "stale"
)

// Phases of a playbook's steps, as the engine names them.
const (
	PhaseSteps      = "steps"
	PhaseOnResolved = "on_resolved"
)

// Step is one step's decision.
type Step struct {
	Playbook string `json:"playbook"`
	// Phase is steps, or on_resolved for a step the playbook runs when an
	// alert it acted on resolves.
	Phase    string         `json:"phase"`
	Index    int            `json:"index"`
	Action   string         `json:"action"`
	Decision string         `json:"decision"`
	Params   map[string]any `json:"params,omitempty"`
}

// Decision is what was (then) or would be (now) decided for one event.
type Decision struct {
	// Matched lists the playbooks whose rule matched, sorted.
	Matched []string `json:"matched"`
	// Steps lists step decisions, by playbook, phase (on_resolved first,
	// as the engine runs them) and index.
	Steps []Step `json:"steps,omitempty"`
}

// Event is one replayed event.
type Event struct {
	Seq        uint64    `json:"seq"`
	EventID    string    `json:"event_id"`
	Source     string    `json:"source"`
	Name       string    `json:"name"`
	Status     string    `json:"status"`
	ReceivedAt time.Time `json:"received_at"`
	// Recorded is false when the audit trail holds no decision for the
	// event (never processed, or compacted away): Then is empty.
	Recorded bool     `json:"recorded"`
	Then     Decision `json:"then"`
	Now      Decision `json:"now"`
	// Differences are the changes, one sentence each; empty when the
	// decision is the same.
	Differences []string `json:"differences,omitempty"`
}

// Summary counts the differences.
type Summary struct {
	Events     int `json:"events"`
	Changed    int `json:"changed"`
	Unrecorded int `json:"unrecorded"`
	// NewlyMatched and NoLongerMatched count events per playbook.
	NewlyMatched    map[string]int `json:"newly_matched,omitempty"`
	NoLongerMatched map[string]int `json:"no_longer_matched,omitempty"`
	// StepChanges counts steps that would now run where they did not, or
	// the reverse; ParamChanges steps whose parameters would differ.
	StepChanges  int `json:"step_changes"`
	ParamChanges int `json:"param_changes"`
}

// Report is a replay's result.
type Report struct {
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until,omitzero"`
	Events  []Event   `json:"events"`
	Summary Summary   `json:"summary"`
}

// Run replays the events of the range against opts.Playbooks.
func Run(ctx context.Context, src Source, opts Options) (*Report, error) {
	if opts.Playbooks == nil {
		return nil, ErrNoPlaybooks
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 100_000
	}
	// Collect first: the audit reads below must not nest inside the
	// inbox's read transaction.
	type stored struct {
		seq uint64
		ev  event.Event
	}
	var evs []stored
	err := src.EventsSince(ctx, opts.Since.UnixNano(), func(seq uint64, ev event.Event) error {
		if !opts.Until.IsZero() && !ev.ReceivedAt.Before(opts.Until) {
			return nil
		}
		if len(evs) == opts.MaxEvents {
			return fmt.Errorf("more than %d: %w", opts.MaxEvents, ErrTooManyEvents)
		}
		ev.Raw = nil
		evs = append(evs, stored{seq, ev})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	// In the order they were received: a clustered store numbers each
	// replica's events from its own block, so its inbox order interleaves
	// replicas by block, not by time, and the dedupe marks below depend on
	// the order.
	slices.SortStableFunc(evs, func(a, b stored) int { return a.ev.ReceivedAt.Compare(b.ev.ReceivedAt) })
	rep := &Report{Since: opts.Since, Until: opts.Until, Events: []Event{}, Summary: Summary{NewlyMatched: map[string]int{}, NoLongerMatched: map[string]int{}}}
	acted := &actedOn{marks: map[string]bool{}, fired: map[string]bool{}}
	for _, s := range evs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		recs, err := src.AuditForEvent(ctx, s.ev.ID)
		if err != nil {
			return nil, fmt.Errorf("read the decisions of %s: %w", s.ev.ID, err)
		}
		r := Event{Seq: s.seq, EventID: s.ev.ID, Source: s.ev.Source, Name: s.ev.Name, Status: s.ev.Status, ReceivedAt: s.ev.ReceivedAt}
		r.Then, r.Recorded = then(recs)
		r.Now = now(&s.ev, opts, acted, r.Then)
		rep.Summary.Events++
		if !r.Recorded {
			rep.Summary.Unrecorded++
		} else if r.Differences = diff(r.Then, r.Now, &rep.Summary); len(r.Differences) > 0 {
			rep.Summary.Changed++
		}
		rep.Events = append(rep.Events, r)
	}
	return rep, nil
}

// then rebuilds the decision from the event's audit records.
func then(recs []audit.Record) (Decision, bool) {
	var d Decision
	recorded := false
	type key struct {
		pb, phase string
		idx       int
	}
	steps := map[key]*Step{}
	var order []key
	for _, r := range recs {
		switch r.Kind {
		case audit.KindReceived:
			recorded = true
		case audit.KindMatched:
			d.Matched = append(d.Matched, r.Playbook)
		}
		if r.Step == nil || r.Playbook == "" {
			continue
		}
		phase, _ := r.Data["phase"].(string)
		if phase == "" {
			phase = PhaseSteps
		}
		k := key{r.Playbook, phase, *r.Step}
		st, ok := steps[k]
		if !ok {
			st = &Step{Playbook: r.Playbook, Phase: phase, Index: *r.Step, Action: r.Action}
			steps[k] = st
			order = append(order, k)
		}
		// Later records refine earlier ones (started → ok); a counted
		// approval vote does not change the step's decision.
		if r.Kind == audit.KindApproval && r.Outcome == "counted" {
			continue
		}
		st.Decision = r.Outcome
		if p, ok := r.Data["params"].(map[string]any); ok {
			st.Params = p
		}
	}
	sort.Strings(d.Matched)
	for _, k := range order {
		d.Steps = append(d.Steps, *steps[k])
	}
	sortSteps(d.Steps)
	return d, recorded
}

// sortSteps orders steps by playbook, then phase (on_resolved first: the
// engine closes out a resolved alert before it runs the steps of the
// playbooks its resolve matches), then index.
func sortSteps(steps []Step) {
	sort.SliceStable(steps, func(i, j int) bool {
		a, b := steps[i], steps[j]
		if a.Playbook != b.Playbook {
			return a.Playbook < b.Playbook
		}
		if a.Phase != b.Phase {
			return a.Phase == PhaseOnResolved
		}
		return a.Index < b.Index
	})
}

// actedOn follows, in replay order, the alerts each playbook would now
// have acted on: their resolve runs its on_resolved steps.
type actedOn struct {
	marks map[string]bool // playbook|fingerprint, as the engine's marks
	fired map[string]bool // fingerprints whose firing event was replayed
}

// now evaluates ev against the set: rules, when conditions, templates.
//
// A resolved alert also runs the on_resolved steps of every playbook that
// acted on it while it fired, as the engine does. acted carries that
// across the replay: a playbook acts on a firing alert when it would plan
// one of its steps now and not only dry-run it (replay cannot foresee a
// guard's refusal). An alert that fired before the replayed range is known
// by its recorded history alone: the playbooks whose on_resolved steps the
// trail holds for it.
func now(ev *event.Event, opts Options, acted *actedOn, recorded Decision) Decision {
	var d Decision
	stale := ev.Stale && !opts.ActOnStale
	if ev.Status == event.StatusResolved && ev.Fingerprint != "" && !stale {
		ranThen := map[string]bool{}
		if !acted.fired[ev.Fingerprint] {
			for _, st := range recorded.Steps {
				if st.Phase == PhaseOnResolved {
					ranThen[st.Playbook] = true
				}
			}
		}
		for _, pb := range opts.Playbooks.Playbooks {
			key := pb.Name + "|" + ev.Fingerprint
			if !acted.marks[key] && !ranThen[pb.Name] {
				continue
			}
			delete(acted.marks, key) // closed out, as the engine deletes its mark
			for _, st := range pb.OnResolved {
				s, ps := planStep(ev, pb, PhaseOnResolved, st, opts)
				d.Steps = append(d.Steps, s)
				if ps.Stops(st) {
					break // the engine stops the playbook here
				}
			}
		}
		// The resolve is now the alert's latest word: a later resolve of
		// the same fingerprint runs nothing unless it fires again.
		acted.fired[ev.Fingerprint] = true
	}
	if ev.Status == event.StatusFiring && ev.Fingerprint != "" {
		acted.fired[ev.Fingerprint] = true
	}
	for _, pb := range opts.Playbooks.Playbooks {
		ok, err := pb.Matches(ev)
		if err != nil || !ok {
			continue
		}
		d.Matched = append(d.Matched, pb.Name)
		if stale {
			continue
		}
		for _, st := range pb.Steps {
			s, ps := planStep(ev, pb, PhaseSteps, st, opts)
			// The engine marks an alert acted on only when a step really
			// runs: a dry run (shadow mode) leaves no mark.
			if ps.Planned() && plan.DryRunWhy(pb) == "" && ev.Status == event.StatusFiring && ev.Fingerprint != "" {
				acted.marks[pb.Name+"|"+ev.Fingerprint] = true
			}
			d.Steps = append(d.Steps, s)
			if ps.Stops(st) {
				break // the engine stops the playbook here: later steps are never reached
			}
		}
	}
	sort.Strings(d.Matched)
	sortSteps(d.Steps)
	return d
}

// planStep runs the engine's plan stage for one step. The secret
// parameters are redacted by the stage, then opts.Redact applies the
// store's redaction, so the parameters compare with the recorded ones.
func planStep(ev *event.Event, pb *playbooks.Playbook, phase string, st *playbooks.Step, opts Options) (Step, plan.Step) {
	s := Step{Playbook: pb.Name, Phase: phase, Index: st.Index, Action: st.Action}
	ps := plan.Prepare(opts.Catalog, ev, st)
	s.Decision = string(ps.Outcome)
	if !ps.Planned() {
		return s, ps
	}
	params := ps.Shown
	if opts.Redact != nil {
		rec := opts.Redact(audit.Record{Data: map[string]any{"params": params}})
		if p, ok := rec.Data["params"].(map[string]any); ok {
			params = p
		}
	}
	s.Params = normalise(params)
	return s, ps
}

// normalise gives params the shape they have after a JSON round trip, as
// recorded ones do.
func normalise(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return m
	}
	return out
}

// planned reports whether a decision means the step was (or would be)
// planned and handed to the guards: everything but a skip or an error
// before planning.
func planned(decision string) bool {
	switch decision {
	case DecisionWhenFalse, DecisionWhenError, DecisionRenderError, DecisionInvalid, DecisionUnknown, "":
		return false
	}
	return true
}

// diff lists the differences between then and now and counts them.
func diff(th, nw Decision, sum *Summary) []string {
	var out []string
	thenSet, nowSet := set(th.Matched), set(nw.Matched)
	for _, p := range nw.Matched {
		if !thenSet[p] {
			out = append(out, fmt.Sprintf("now matches playbook %q, which did not match then", p))
			sum.NewlyMatched[p]++
		}
	}
	for _, p := range th.Matched {
		if !nowSet[p] {
			out = append(out, fmt.Sprintf("no longer matches playbook %q", p))
			sum.NoLongerMatched[p]++
		}
	}
	stepKey := func(s Step) string { return s.Playbook + "|" + s.Phase + "|" + strconv.Itoa(s.Index) }
	nowSteps := map[string]Step{}
	for _, s := range nw.Steps {
		nowSteps[stepKey(s)] = s
	}
	thenSteps := map[string]bool{}
	for _, t := range th.Steps {
		thenSteps[stepKey(t)] = true
		if t.Phase == PhaseSteps && !nowSet[t.Playbook] {
			continue // reported as no longer matching
		}
		name := fmt.Sprintf("%s step %d", t.Playbook, t.Index)
		if t.Phase == PhaseOnResolved {
			name = fmt.Sprintf("%s on_resolved step %d", t.Playbook, t.Index)
		}
		n, ok := nowSteps[stepKey(t)]
		switch {
		case !ok && t.Phase == PhaseOnResolved && len(pbOnResolved(nw, t.Playbook)) == 0:
			out = append(out, fmt.Sprintf("%s (%s): was %s, now the playbook does not act on this alert's resolve", name, t.Action, t.Decision))
			sum.StepChanges++
		case !ok:
			out = append(out, fmt.Sprintf("%s (%s): was %s, the step no longer exists", name, t.Action, t.Decision))
			sum.StepChanges++
		case n.Action != t.Action:
			out = append(out, fmt.Sprintf("%s: action %s is now %s", name, t.Action, n.Action))
			sum.StepChanges++
		case planned(t.Decision) != planned(n.Decision):
			out = append(out, fmt.Sprintf("%s (%s): was %s, now %s", name, t.Action, t.Decision, n.Decision))
			sum.StepChanges++
		case planned(n.Decision) && t.Params != nil && !reflect.DeepEqual(t.Params, n.Params):
			out = append(out, fmt.Sprintf("%s (%s): parameters change: %s", name, t.Action, paramDiff(t.Params, n.Params)))
			sum.ParamChanges++
		}
	}
	// A new playbook match speaks for its steps; on_resolved steps follow
	// no match, so each one that would now run is a difference of its own.
	for _, n := range nw.Steps {
		if n.Phase == PhaseOnResolved && !thenSteps[stepKey(n)] && planned(n.Decision) {
			out = append(out, fmt.Sprintf("%s on_resolved step %d (%s): would now run, did not then", n.Playbook, n.Index, n.Action))
			sum.StepChanges++
		}
	}
	return out
}

// pbOnResolved returns the on_resolved steps of playbook in d.
func pbOnResolved(d Decision, playbook string) []Step {
	var out []Step
	for _, s := range d.Steps {
		if s.Playbook == playbook && s.Phase == PhaseOnResolved {
			out = append(out, s)
		}
	}
	return out
}

func paramDiff(a, b map[string]any) string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		if !reflect.DeepEqual(a[k], b[k]) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %s → %s", k, compact(a[k]), compact(b[k])))
	}
	return strings.Join(parts, "; ")
}

func compact(v any) string {
	if v == nil {
		return "(unset)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
