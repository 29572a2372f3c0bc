package engine

import (
	"context"
	"strconv"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
)

// Phase names which list of a playbook a step belongs to.
const (
	PhaseSteps      = "steps"
	PhaseOnResolved = "on_resolved"
)

// Plan is one step, ready to run: the rendered parameters, the action and
// its target.
type Plan struct {
	Seq      uint64
	Event    *event.Event
	Playbook *playbooks.Playbook
	Phase    string
	Step     *playbooks.Step
	Action   actions.Action
	Params   map[string]any
	Target   actions.Target
	// DryRun is set in shadow mode, global dry-run, or when the action's
	// infrastructure is not configured.
	DryRun    bool
	DryRunWhy string
}

// Key identifies the step of this event: it is the claim that makes a
// step run at most once.
func (p *Plan) Key() string {
	return p.Event.ID + "|" + p.Playbook.Name + "|" + p.Phase + "|" + strconv.Itoa(p.Step.Index)
}

// Verdict is a guard's decision. An empty Reason allows the step.
type Verdict struct {
	// Reason is a typed refusal: protected, deduped, budget_exhausted,
	// breaker_open, paused.
	Reason string
	// Message explains the refusal to a human.
	Message string
}

// Allowed reports whether the verdict lets the step run.
func (v Verdict) Allowed() bool { return v.Reason == "" }

// Guard checks a plan inside the transaction that claims the step, so the
// decision and the record of it are committed together. Check may write
// state (a dedupe window, a budget slot) through tx; if it refuses, those
// writes are still committed with the refusal record.
type Guard interface {
	Check(tx state.Tx, p *Plan) (Verdict, error)
	// Observe records a step's outcome (for the circuit breaker); err is
	// nil on success.
	Observe(tx state.Tx, p *Plan, err error) error
	// Resolved is told that the alert behind event resolved (for breakers
	// that count runs whose alert did not clear).
	Resolved(tx state.Tx, pb *playbooks.Playbook, ev *event.Event) error
}

// Approver parks a step that needs a human decision. Park runs inside the
// claiming transaction and must only write state; Notify runs after the
// commit and may call out (post the Slack message).
type Approver interface {
	Park(tx state.Tx, p *Plan, verdicts []Verdict) (id string, err error)
	Notify(ctx context.Context, id string) error
	// Cancel is told that the alert behind ev resolved; pending approvals
	// for it are cancelled.
	Cancel(ctx context.Context, ev *event.Event) error
}

// ApprovalChecker is optionally implemented by an Approver. When an approved
// step is about to run, CheckApproved is called inside the claiming
// transaction, before the guards, to confirm that this exact plan was
// approved (the parameters may render differently after a playbook reload).
// A refusing verdict is recorded like a guard's and the step does not run.
type ApprovalChecker interface {
	CheckApproved(tx state.Tx, p *Plan) (Verdict, error)
}

// Observer receives the engine's measurements. Implementations must be
// cheap and safe for concurrent use.
type Observer interface {
	EventProcessed(source string, matched int, d time.Duration)
	PlaybookMatched(playbook string)
	StepFinished(action, outcome string, d time.Duration)
	GuardRefused(reason, playbook string)
}

type nopObserver struct{}

func (nopObserver) EventProcessed(string, int, time.Duration)  {}
func (nopObserver) PlaybookMatched(string)                     {}
func (nopObserver) StepFinished(string, string, time.Duration) {}
func (nopObserver) GuardRefused(string, string)                {}
