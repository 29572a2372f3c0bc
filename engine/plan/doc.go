// Package plan is the plan stage of a playbook step, the one every reader
// of a playbook shares: the engine before it claims and runs a step, replay
// when it re-evaluates stored events, and the offline test harness
// (`firebreak test`). For one event and one step it decides, in this
// order, whether the step's when condition holds, renders its parameters,
// finds its action, validates the rendered parameters, names the target,
// and redacts the parameters the action marks secret — and whether a step
// that did not plan stops its playbook (continue_on_error).
//
// It is a leaf of the engine: it imports actions and playbooks, never the
// engine, the guards, the approval gate or a store. It writes nothing,
// runs nothing and calls nothing that could, so replay and the test
// harness stay read-only by construction.
package plan
