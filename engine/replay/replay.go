package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
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
	DecisionPlanned     = "planned"    // the step would be planned and go to the guards
	DecisionWhenFalse   = "when_false" // its when condition is false
	DecisionWhenError   = "when_error" // its when condition failed
	DecisionRenderError = "render_error"
	DecisionInvalid     = "invalid_params"
	DecisionUnknown     = "unknown_action"
	DecisionStale       = "stale" // the event was stale: no step is planned
)

// Step is one step's decision.
type Step struct {
	Playbook string         `json:"playbook"`
	Index    int            `json:"index"`
	Action   string         `json:"action"`
	Decision string         `json:"decision"`
	Params   map[string]any `json:"params,omitempty"`
}

// Decision is what was (then) or would be (now) decided for one event.
type Decision struct {
	// Matched lists the playbooks whose rule matched, sorted.
	Matched []string `json:"matched"`
	// Steps lists step decisions, by playbook then index.
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
	rep := &Report{Since: opts.Since, Until: opts.Until, Events: []Event{}, Summary: Summary{NewlyMatched: map[string]int{}, NoLongerMatched: map[string]int{}}}
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
		r.Now = now(&s.ev, opts)
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
		pb  string
		idx int
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
		if ph, _ := r.Data["phase"].(string); ph != "" && ph != "steps" {
			continue // on_resolved steps are decided by another event's history
		}
		k := key{r.Playbook, *r.Step}
		st, ok := steps[k]
		if !ok {
			st = &Step{Playbook: r.Playbook, Index: *r.Step, Action: r.Action}
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
	sort.Slice(order, func(i, j int) bool {
		if order[i].pb != order[j].pb {
			return order[i].pb < order[j].pb
		}
		return order[i].idx < order[j].idx
	})
	for _, k := range order {
		d.Steps = append(d.Steps, *steps[k])
	}
	return d, recorded
}

// now evaluates ev against the set: rules, when conditions, templates.
func now(ev *event.Event, opts Options) Decision {
	var d Decision
	for _, pb := range opts.Playbooks.Playbooks {
		ok, err := pb.Matches(ev)
		if err != nil || !ok {
			continue
		}
		d.Matched = append(d.Matched, pb.Name)
		if ev.Stale && !opts.ActOnStale {
			continue
		}
		for _, st := range pb.Steps {
			d.Steps = append(d.Steps, planStep(ev, pb, st, opts))
		}
	}
	sort.Strings(d.Matched)
	sort.SliceStable(d.Steps, func(i, j int) bool {
		if d.Steps[i].Playbook != d.Steps[j].Playbook {
			return d.Steps[i].Playbook < d.Steps[j].Playbook
		}
		return d.Steps[i].Index < d.Steps[j].Index
	})
	return d
}

func planStep(ev *event.Event, pb *playbooks.Playbook, st *playbooks.Step, opts Options) Step {
	s := Step{Playbook: pb.Name, Index: st.Index, Action: st.Action}
	run, err := st.ShouldRun(ev)
	switch {
	case err != nil:
		s.Decision = DecisionWhenError
		return s
	case !run:
		s.Decision = DecisionWhenFalse
		return s
	}
	params, err := st.Render(ev)
	if err != nil {
		s.Decision = DecisionRenderError
		return s
	}
	if opts.Catalog != nil {
		act, err := opts.Catalog.Get(st.Action)
		if err != nil {
			s.Decision = DecisionUnknown
			return s
		}
		if err := act.Validate(params, true); err != nil {
			s.Decision = DecisionInvalid
			return s
		}
		params = redactSecret(act.Spec(), params)
	}
	if opts.Redact != nil {
		rec := opts.Redact(audit.Record{Data: map[string]any{"params": params}})
		if p, ok := rec.Data["params"].(map[string]any); ok {
			params = p
		}
	}
	s.Decision = DecisionPlanned
	s.Params = normalise(params)
	return s
}

// redactSecret mirrors engine.Redact (replay must not import the engine's
// executor to stay read-only by construction).
func redactSecret(spec actions.Spec, params map[string]any) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
	}
	for _, p := range spec.Params {
		if _, ok := out[p.Name]; ok && p.Secret {
			out[p.Name] = "[redacted]"
		}
	}
	return out
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
	case DecisionWhenFalse, DecisionWhenError, DecisionRenderError, DecisionInvalid, DecisionUnknown, DecisionStale, "":
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
	nowSteps := map[string]Step{}
	for _, s := range nw.Steps {
		nowSteps[fmt.Sprintf("%s|%d", s.Playbook, s.Index)] = s
	}
	for _, t := range th.Steps {
		if !nowSet[t.Playbook] {
			continue
		}
		n, ok := nowSteps[fmt.Sprintf("%s|%d", t.Playbook, t.Index)]
		if !ok {
			out = append(out, fmt.Sprintf("%s step %d (%s): was %s, the step no longer exists", t.Playbook, t.Index, t.Action, t.Decision))
			sum.StepChanges++
			continue
		}
		if n.Action != t.Action {
			out = append(out, fmt.Sprintf("%s step %d: action %s is now %s", t.Playbook, t.Index, t.Action, n.Action))
			sum.StepChanges++
			continue
		}
		if planned(t.Decision) != planned(n.Decision) {
			out = append(out, fmt.Sprintf("%s step %d (%s): was %s, now %s", t.Playbook, t.Index, t.Action, t.Decision, n.Decision))
			sum.StepChanges++
			continue
		}
		if planned(n.Decision) && t.Params != nil && !reflect.DeepEqual(t.Params, n.Params) {
			out = append(out, fmt.Sprintf("%s step %d (%s): parameters change: %s", t.Playbook, t.Index, t.Action, paramDiff(t.Params, n.Params)))
			sum.ParamChanges++
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
