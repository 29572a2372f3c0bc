package engine

import (
	"strconv"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/event"
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
	// Restore is the recorded undo state a restore step puts back
	// (actions.Request.Restore); set in the claiming transaction.
	Restore map[string]any
}

// Key identifies the step of this event: it is the claim that makes a
// step run at most once.
func (p *Plan) Key() string {
	return p.Event.ID + "|" + p.Playbook.Name + "|" + p.Phase + "|" + strconv.Itoa(p.Step.Index)
}
