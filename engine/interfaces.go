package engine

// The consumer interfaces the engine declares and others implement: the
// guards, the approval gate and the metrics observer. (The Store it needs
// is declared with the Engine, in engine.go.)

import (
	"context"
	"time"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
)

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

// PauseChecker is optionally implemented by a Guard: it reports whether
// the kill switch is on, so the engine knows when to run the steps it held
// while paused (Config.HoldPaused).
type PauseChecker interface {
	PausedNow(tx state.Tx) (bool, error)
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
