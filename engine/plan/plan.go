package plan

import (
	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks"
)

// Outcome is what the plan stage decided for one step. Its values are the
// audit outcomes the engine records for a step that did not plan, and the
// decisions replay reports; they must not change.
type Outcome string

// Outcomes of the plan stage, in the order the stage can reach them.
const (
	// WhenError: the step's when condition failed to evaluate.
	WhenError Outcome = "when_error"
	// WhenFalse: the step's when condition is false; the step is skipped
	// and the playbook goes on.
	WhenFalse Outcome = "when_false"
	// RenderError: a parameter template failed to render.
	RenderError Outcome = "render_error"
	// UnknownAction: the catalogue has no action of the step's id.
	UnknownAction Outcome = "unknown_action"
	// InvalidParams: the rendered parameters fail the action's Validate.
	InvalidParams Outcome = "invalid_params"
	// Planned: the step is ready to go to the guards.
	Planned Outcome = "planned"
)

// Redacted replaces the value of a secret parameter in Shown.
const Redacted = "[redacted]"

// Step is the plan stage's result for one step.
type Step struct {
	Outcome Outcome
	// Err is why the step did not plan; nil for Planned and WhenFalse.
	Err error
	// Action is the step's action; nil before UnknownAction is ruled out
	// or when the stage has no catalogue.
	Action actions.Action
	// Params are the rendered parameters, for the action only: they may
	// hold secrets.
	Params map[string]any
	// Shown are Params with every secret parameter redacted: what logs,
	// the audit trail, replay and test output show.
	Shown map[string]any
	// Target is what the step would touch.
	Target actions.Target
}

// Planned reports whether the step is ready for the guards.
func (s *Step) Planned() bool { return s.Outcome == Planned }

// Stops reports whether the playbook must not go on to the step after st:
// st failed before it could plan and does not have continue_on_error. A
// false when condition never stops a playbook.
func (s *Step) Stops(st *playbooks.Step) bool {
	switch s.Outcome {
	case Planned, WhenFalse:
		return false
	}
	return !st.ContinueOnError
}

// Prepare runs the plan stage for st and ev: when → render → action →
// validate → target → redact. With a nil cat it stops after rendering:
// the step is Planned with no action, no target, and Shown equal to
// Params (replay without a catalogue).
func Prepare(cat playbooks.Catalog, ev *event.Event, st *playbooks.Step) Step {
	run, err := st.ShouldRun(ev)
	if err != nil {
		return Step{Outcome: WhenError, Err: err}
	}
	if !run {
		return Step{Outcome: WhenFalse}
	}
	params, err := st.Render(ev)
	if err != nil {
		return Step{Outcome: RenderError, Err: err}
	}
	if cat == nil {
		return Step{Outcome: Planned, Params: params, Shown: params}
	}
	act, err := cat.Get(st.Action)
	if err != nil {
		return Step{Outcome: UnknownAction, Err: err, Params: params}
	}
	if err := act.Validate(params, true); err != nil {
		return Step{Outcome: InvalidParams, Err: err, Action: act, Params: params}
	}
	return Step{Outcome: Planned, Action: act, Params: params, Shown: Redact(act.Spec(), params), Target: act.Target(params)}
}

// Redact returns a copy of params with the values of the action's secret
// parameters replaced by Redacted, for logs and the audit trail.
func Redact(spec actions.Spec, params map[string]any) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
	}
	for _, p := range spec.Params {
		if _, ok := out[p.Name]; ok && p.Secret {
			out[p.Name] = Redacted
		}
	}
	return out
}

// ShadowMode is the dry-run reason of a step of a shadow-mode playbook.
const ShadowMode = "shadow mode"

// DryRunWhy says why a planned step of pb would only be dry-run, or ""
// when it would run: the playbook's shadow mode. The engine adds the
// reasons only it knows (global dry_run, an action whose infrastructure
// is not configured).
func DryRunWhy(pb *playbooks.Playbook) string {
	if pb.Mode == playbooks.ModeShadow {
		return ShadowMode
	}
	return ""
}

// NeedsApproval reports whether a planned step that is not a dry run waits
// for a human before it runs.
func NeedsApproval(pb *playbooks.Playbook, st *playbooks.Step) bool {
	return st.Approval || pb.Mode == playbooks.ModeApprove
}
