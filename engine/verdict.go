package engine

// Reason is why a step was refused before it ran. It is the outcome of the
// step's step.refused audit record and the reason label of
// firebreak_guard_refusals_total, so its values are contract: audit
// queries, alerts and dashboards filter on them. The empty Reason allows
// the step.
type Reason string

// The catalogue of refusal reasons, by who decides them.
const (
	// ReasonPaused: the kill switch is on (guards.paused, or an API pause).
	ReasonPaused Reason = "paused"
	// ReasonProtected: the target or a parameter is protected (a namespace,
	// an address range, a label selector, a replica bound).
	ReasonProtected Reason = "protected"
	// ReasonDeduped: the dedupe key already acted within its window.
	ReasonDeduped Reason = "deduped"
	// ReasonBudgetExhausted: a playbook budget or a global cap is used up.
	ReasonBudgetExhausted Reason = "budget_exhausted"
	// ReasonBreakerOpen: the target's circuit breaker is open or half-open
	// with a trial in progress.
	ReasonBreakerOpen Reason = "breaker_open"
	// ReasonGuardError: a guard could not be evaluated (a dedupe key
	// expression that failed); refusing is the safe side.
	ReasonGuardError Reason = "guard_error"

	// ReasonNotApproved: an approved step's approval is missing or not
	// approved (the approval gate).
	ReasonNotApproved Reason = "not_approved"
	// ReasonPlanChanged: the step's action or parameters differ from the
	// plan that was approved (the approval gate).
	ReasonPlanChanged Reason = "plan_changed"
	// ReasonApprovalUnavailable: the step needs approval and no approval
	// gate is configured (the engine).
	ReasonApprovalUnavailable Reason = "approval_unavailable"
)

// Verdict is a guard's decision. An empty Reason allows the step.
type Verdict struct {
	// Reason is the refusal, one of the catalogue above.
	Reason Reason
	// Message explains the refusal to a human.
	Message string
}

// Allowed reports whether the verdict lets the step run.
func (v Verdict) Allowed() bool { return v.Reason == "" }
