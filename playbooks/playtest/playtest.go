package playtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/plan"
	"github.com/firebreak/firebreak/playbooks"
)

// Decoder turns a source payload into events; web/sources decoders satisfy it.
type Decoder interface {
	Decode(body []byte, now time.Time) ([]event.Event, error)
}

// DefaultNow is the clock of a test file that does not set `now`.
var DefaultNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// File is a test file.
type File struct {
	// Playbooks lists playbook files or directories, relative to the test file.
	Playbooks []string `yaml:"playbooks"`
	// Now is the clock for now(), decoding and received_at (RFC 3339).
	Now   string `yaml:"now"`
	Tests []Case `yaml:"tests"`
}

// Case is one test: its input events and the expected decision for each.
type Case struct {
	Name   string `yaml:"name"`
	Input  Input  `yaml:"input"`
	Expect []Want `yaml:"expect"`
}

// Input names the events of a test: a payload for a source decoder (from a
// file or inline), or inline normalised events.
type Input struct {
	// Source is the decoder for File or Payload (alertmanager, falco, …).
	Source string `yaml:"source"`
	// File is a payload file, relative to the test file.
	File string `yaml:"file"`
	// Payload is an inline payload, written in YAML or JSON.
	Payload any `yaml:"payload"`
	// Events are inline normalised events (the keys of GET /api/v1/audit's
	// event: id, source, status, name, severity, labels, fields, src_ip …).
	Events []map[string]any `yaml:"events"`
}

// Want is the expected decision for one event. Decision is the actual one;
// both have the same shape so that they can be compared as YAML.
type Want = Decision

// Decision is what the engine would decide for one event.
type Decision struct {
	// Matched lists the playbooks whose rule matched, in load order.
	Matched []PlaybookDecision `yaml:"matched"`
	// OnResolved lists the playbooks whose on_resolved steps run because
	// this resolved event ends an alert they acted on earlier in the test.
	OnResolved []PlaybookDecision `yaml:"on_resolved,omitempty"`
}

// PlaybookDecision is one playbook's plan. In an expectation, Steps,
// DedupeKey and Target fields that are left out are not compared.
type PlaybookDecision struct {
	Playbook  string          `yaml:"playbook"`
	DedupeKey *string         `yaml:"dedupe_key,omitempty"`
	Steps     *[]StepDecision `yaml:"steps,omitempty"`
}

// StepDecision is one step's verdict.
type StepDecision struct {
	Action string `yaml:"action"`
	// Params are the rendered parameters of a step that would run.
	Params map[string]any `yaml:"params,omitempty"`
	// Target is what the step would touch (compared only when expected).
	Target *string `yaml:"target,omitempty"`
	// Approval is "required" when the step would wait for a human.
	Approval string `yaml:"approval,omitempty"`
	// DryRun says why the step would only be planned (shadow mode).
	DryRun string `yaml:"dry_run,omitempty"`
	// Skipped is the reason a step does not run: when_false.
	Skipped string `yaml:"skipped,omitempty"`
	// Error is why the step failed before running: when_error,
	// render_error, unknown_action or invalid_params, then the message.
	// The playbook stops there unless the step has continue_on_error.
	Error string `yaml:"error,omitempty"`
}

// Options configure a run.
type Options struct {
	Catalog  playbooks.Catalog
	Decoders map[string]Decoder
	// Playbooks is used for test files that list none.
	Playbooks []string
}

// Result is the outcome of one test case.
type Result struct {
	Name string
	// Diff is a readable difference between expected and actual decisions;
	// empty when the test passed.
	Diff string
	// Err is a problem running the case (a payload that does not decode …).
	Err error
}

// Passed reports whether the case passed.
func (r Result) Passed() bool { return r.Diff == "" && r.Err == nil }

// Report is the outcome of one test file.
type Report struct {
	File    string
	Results []Result
}

// Failed counts the cases that did not pass.
func (r Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if !res.Passed() {
			n++
		}
	}
	return n
}

// RunFile loads a test file, its playbooks and inputs, and runs every case.
// An error means the file itself could not be used; failing cases are in
// the report.
func RunFile(path string, opts Options) (Report, error) {
	rep := Report{File: path}
	data, err := os.ReadFile(path)
	if err != nil {
		return rep, fmt.Errorf("read test file: %w", err)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return rep, fmt.Errorf("%s: %w: %w", path, ErrInvalidTestFile, err)
	}
	if len(f.Tests) == 0 {
		return rep, fmt.Errorf("%s: %w: no tests", path, ErrInvalidTestFile)
	}
	now := DefaultNow
	if f.Now != "" {
		if now, err = time.Parse(time.RFC3339, f.Now); err != nil {
			return rep, fmt.Errorf("%s: %w: now: %w", path, ErrInvalidTestFile, err)
		}
	}
	dir := filepath.Dir(path)
	paths := opts.Playbooks
	if len(f.Playbooks) > 0 {
		paths = nil
		for _, p := range f.Playbooks {
			paths = append(paths, rel(dir, p))
		}
	}
	if len(paths) == 0 {
		return rep, fmt.Errorf("%s: %w: no playbooks: list them under playbooks:", path, ErrInvalidTestFile)
	}
	set, err := playbooks.LoadPaths(opts.Catalog, paths...)
	if err != nil {
		return rep, fmt.Errorf("%s: load playbooks: %w", path, err)
	}
	set.SetClock(func() time.Time { return now })
	for i, c := range f.Tests {
		name := c.Name
		if name == "" {
			name = "tests[" + strconv.Itoa(i) + "]"
		}
		res := Result{Name: name}
		events, err := c.Input.events(dir, now, opts.Decoders)
		if err != nil {
			res.Err = err
		} else {
			res.Diff = compare(c.Expect, Evaluate(set, opts.Catalog, events), events)
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

func rel(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// events decodes the input.
func (in Input) events(dir string, now time.Time, decoders map[string]Decoder) ([]event.Event, error) {
	n := 0
	for _, set := range []bool{in.File != "", in.Payload != nil, in.Events != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("input: %w: give exactly one of file, payload or events", ErrInvalidTestFile)
	}
	if in.Events != nil {
		out := make([]event.Event, 0, len(in.Events))
		for i, m := range in.Events {
			raw, err := json.Marshal(jsonable(m))
			if err != nil {
				return nil, fmt.Errorf("input.events[%d]: %w", i, err)
			}
			var ev event.Event
			d := json.NewDecoder(bytes.NewReader(raw))
			d.DisallowUnknownFields()
			if err := d.Decode(&ev); err != nil {
				return nil, fmt.Errorf("input.events[%d]: %w: %w", i, ErrInvalidTestFile, err)
			}
			if ev.ID == "" {
				ev.ID = "test-" + strconv.Itoa(i)
			}
			if ev.Status == "" {
				ev.Status = event.StatusFiring
			}
			if ev.ReceivedAt.IsZero() {
				ev.ReceivedAt = now
			}
			out = append(out, ev)
		}
		return out, nil
	}
	if in.Source == "" {
		return nil, fmt.Errorf("input: %w: source is required with file or payload", ErrInvalidTestFile)
	}
	d, ok := decoders[in.Source]
	if !ok {
		return nil, fmt.Errorf("input.source %q: %w", in.Source, ErrUnknownSource)
	}
	var body []byte
	if in.File != "" {
		b, err := os.ReadFile(rel(dir, in.File))
		if err != nil {
			return nil, fmt.Errorf("input.file: %w", err)
		}
		body = b
	} else {
		b, err := json.Marshal(jsonable(in.Payload))
		if err != nil {
			return nil, fmt.Errorf("input.payload: %w", err)
		}
		body = b
	}
	evs, err := d.Decode(body, now)
	if err != nil {
		return nil, fmt.Errorf("input: decode %s payload: %w", in.Source, err)
	}
	for i := range evs {
		if evs[i].ReceivedAt.IsZero() {
			evs[i].ReceivedAt = now
		}
	}
	return evs, nil
}

// jsonable converts YAML's map[any]any, if any, into JSON-encodable maps.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	}
	return v
}

// Evaluate computes the decision for each event in order, as the engine
// would plan it, without running anything: match, then per step when →
// render → Validate. A playbook that planned at least one step for a firing
// alert has "acted" on it, so a later resolved event with the same
// fingerprint plans its on_resolved steps.
func Evaluate(set *playbooks.Set, cat playbooks.Catalog, events []event.Event) []Decision {
	acted := map[string]bool{} // playbook|fingerprint
	out := make([]Decision, len(events))
	for i := range events {
		ev := &events[i]
		d := Decision{Matched: []PlaybookDecision{}}
		if ev.Status == event.StatusResolved && ev.Fingerprint != "" {
			for _, pb := range set.Playbooks {
				key := pb.Name + "|" + ev.Fingerprint
				if !acted[key] {
					continue
				}
				delete(acted, key)
				if len(pb.OnResolved) == 0 {
					continue
				}
				steps, _ := planSteps(cat, pb, pb.OnResolved, ev)
				d.OnResolved = append(d.OnResolved, PlaybookDecision{Playbook: pb.Name, Steps: &steps})
			}
		}
		for _, pb := range set.Candidates(ev) {
			ok, err := pb.Matches(ev)
			if err != nil {
				steps := []StepDecision{{Error: "match_error: " + err.Error()}}
				d.Matched = append(d.Matched, PlaybookDecision{Playbook: pb.Name, Steps: &steps})
				continue
			}
			if !ok {
				continue
			}
			pd := PlaybookDecision{Playbook: pb.Name}
			if pb.Dedupe != nil {
				k, err := pb.DedupeKey(ev)
				if err != nil {
					k = "error: " + err.Error()
				}
				pd.DedupeKey = &k
			}
			steps, ran := planSteps(cat, pb, pb.Steps, ev)
			pd.Steps = &steps
			d.Matched = append(d.Matched, pd)
			if ran && ev.Status == event.StatusFiring && ev.Fingerprint != "" && pb.Mode != playbooks.ModeShadow {
				acted[pb.Name+"|"+ev.Fingerprint] = true
			}
		}
		out[i] = d
	}
	return out
}

// planSteps runs the engine's plan stage (engine/plan) for each step, as
// the engine does before it would claim and run the step, and stops where
// the engine would stop the playbook. It reports whether any step would
// run.
func planSteps(cat playbooks.Catalog, pb *playbooks.Playbook, steps []*playbooks.Step, ev *event.Event) ([]StepDecision, bool) {
	out := []StepDecision{}
	ran := false
	for _, st := range steps {
		sd := StepDecision{Action: st.Action}
		ps := plan.Prepare(cat, ev, st)
		switch ps.Outcome {
		case plan.Planned:
			sd.Params = ps.Shown
			t := ps.Target.String()
			sd.Target = &t
			switch {
			case plan.DryRunWhy(pb) != "":
				sd.DryRun = plan.DryRunWhy(pb)
			case plan.NeedsApproval(pb, st):
				sd.Approval = "required"
			}
			ran = true
		case plan.WhenFalse:
			sd.Skipped = string(ps.Outcome)
		default:
			sd.Error = string(ps.Outcome) + ": " + ps.Err.Error()
		}
		out = append(out, sd)
		if ps.Stops(st) {
			break
		}
	}
	return out, ran
}
