package audit

import (
	"errors"
	"time"
)

// ErrChainBroken is returned when verifying the audit trail finds it
// altered; the error text names the first bad record.
var ErrChainBroken = errors.New("audit chain broken")

// Kind names what an audit record records. The values are part of the
// trail's format (the "kind" field of every stored record, and the --kind
// filter of firebreak audit) and never change once written.
type Kind string

// The catalogue of record kinds: every record the trail holds is one of
// these. The comment says who writes it and what its Outcome holds.
const (
	// KindReceived: the engine took an event from the inbox; outcome empty.
	KindReceived Kind = "event.received"
	// KindUnmatched: no playbook's rule matched the event.
	KindUnmatched Kind = "event.unmatched"
	// KindStale: the event (or an approved step's event) was older than
	// max_event_age when its turn came; nothing ran.
	KindStale Kind = "event.stale"
	// KindMatched: a playbook's rule matched the event.
	KindMatched Kind = "playbook.matched"
	// KindMatchError: a playbook's rule failed to evaluate on the event.
	KindMatchError Kind = "playbook.error"
	// KindStepSkipped: a step was planned but not run; the outcome is the
	// engine's reason (when_false, render_error, approval_pending, …).
	KindStepSkipped Kind = "step.skipped"
	// KindStepRefused: a guard or the approval check refused a step; the
	// outcome is the refusal reason (protected, deduped, paused, …).
	KindStepRefused Kind = "step.refused"
	// KindStepStarted: a step's action is about to run (claimed).
	KindStepStarted Kind = "step.started"
	// KindStepSucceeded: a step's action finished; outcome ok.
	KindStepSucceeded Kind = "step.succeeded"
	// KindStepFailed: a step's action failed after its retries.
	KindStepFailed Kind = "step.failed"
	// KindStepDryRun: a shadow-mode (or dry-run) step was planned and
	// recorded instead of run.
	KindStepDryRun Kind = "step.dry_run"
	// KindInterrupted: a step was started but its outcome never recorded
	// (a crash mid-step); it is not run again.
	KindInterrupted Kind = "step.interrupted"
	// KindStepHeld: a step refused while paused under guards.on_pause: hold;
	// it runs on resume.
	KindStepHeld Kind = "step.held"
	// KindAuthFailed: a request to a receiver, the Slack route or the API
	// failed authentication; the actor is what it claimed to be, never a
	// secret.
	KindAuthFailed Kind = "auth.failed"
	// KindReload: a playbook reload; outcome ok or failed.
	KindReload Kind = "playbooks.reload"
	// KindApproval: the approval gate's records; the outcome is one of the
	// approval package's outcomes (requested, approved, denied, …).
	KindApproval Kind = "approval"
	// KindBreakerOpened: a playbook's circuit breaker opened (the guard).
	KindBreakerOpened Kind = "breaker.opened"
	// KindBreakerHalfOpen: an open breaker's cool-down ended; one trial runs.
	KindBreakerHalfOpen Kind = "breaker.half_open"
	// KindBreakerClosed: a half-open breaker's trial succeeded.
	KindBreakerClosed Kind = "breaker.closed"
	// KindBreakerReset: an operator reset a breaker through the API.
	KindBreakerReset Kind = "breaker.reset"
	// KindBreakerNotified: the guard's breaker notification was sent, or
	// failed (outcome ok or failed).
	KindBreakerNotified Kind = "breaker.notified"
	// KindPaused: the kill switch was turned on.
	KindPaused Kind = "guard.paused"
	// KindResumed: the kill switch was turned off.
	KindResumed Kind = "guard.resumed"
	// KindCheckpoint marks where retention compacted older records away;
	// its data carries the sequence and hash of the last removed record.
	KindCheckpoint Kind = "audit.checkpoint"
)

// Record is one audit entry. Seq, Prev and Hash are filled by the store when
// the record is chained; everything else by the writer.
type Record struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Kind     Kind      `json:"kind"`
	EventID  string    `json:"event_id,omitempty"`
	Source   string    `json:"source,omitempty"`
	Playbook string    `json:"playbook,omitempty"`
	Step     *int      `json:"step,omitempty"`
	Action   string    `json:"action,omitempty"`
	Target   string    `json:"target,omitempty"`
	// Outcome is the verdict in one word: ok, failed, deduped, budget_exhausted …
	Outcome string `json:"outcome,omitempty"`
	Message string `json:"message,omitempty"`
	Actor   string `json:"actor,omitempty"`
	// Data holds the details: rendered parameters, what an action observed …
	Data map[string]any `json:"data,omitempty"`
	// Prev is the hex SHA-256 of the previous record's stored bytes.
	Prev string `json:"prev"`

	// middle is the JSON of the fields from Kind to Data, encoded ahead of
	// the store's transaction by Prepare; Seal then encodes only what the
	// store fills in. Unexported, so no encoding sees it. by is what the
	// preparer said it was prepared under (PreparedBy).
	middle []byte
	by     any
}

// StepIndex returns a pointer to i, for Record.Step.
func StepIndex(i int) *int { return &i }

// Query selects audit records. Zero fields match everything.
type Query struct {
	// After is the paging cursor: only records with a greater sequence.
	After    uint64
	Limit    int
	EventID  string
	Playbook string
	Action   string
	Kind     Kind
	// Outcome is the verdict or refusal reason: ok, failed, deduped,
	// budget_exhausted …
	Outcome string
	// Since and Until bound the record time: Since ≤ time < Until.
	Since time.Time
	Until time.Time
}

// Match reports whether r passes every filter of q but the paging ones.
func (q Query) Match(r *Record) bool {
	return (q.EventID == "" || r.EventID == q.EventID) &&
		(q.Playbook == "" || r.Playbook == q.Playbook) &&
		(q.Action == "" || r.Action == q.Action) &&
		(q.Kind == "" || r.Kind == q.Kind) &&
		(q.Outcome == "" || r.Outcome == q.Outcome) &&
		(q.Since.IsZero() || !r.Time.Before(q.Since)) &&
		(q.Until.IsZero() || r.Time.Before(q.Until))
}
