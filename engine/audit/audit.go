// Package audit defines the audit record: one decision of the engine, in the
// form it is written to the hash-chained trail. It is a leaf package shared by
// the engine (which writes records) and the store (which chains and keeps them).
package audit

import (
	"errors"
	"time"
)

// ErrChainBroken is returned when verifying the audit trail finds it
// altered; the error text names the first bad record.
var ErrChainBroken = errors.New("audit chain broken")

// Kinds of audit records. Every decision the engine makes is one of these.
const (
	KindReceived      = "event.received"
	KindUnmatched     = "event.unmatched"
	KindStale         = "event.stale"
	KindMatched       = "playbook.matched"
	KindMatchError    = "playbook.error"
	KindStepSkipped   = "step.skipped"
	KindStepRefused   = "step.refused"
	KindStepStarted   = "step.started"
	KindStepSucceeded = "step.succeeded"
	KindStepFailed    = "step.failed"
	KindStepDryRun    = "step.dry_run"
	KindInterrupted   = "step.interrupted"
	KindStepHeld      = "step.held"
	KindAuthFailed    = "auth.failed"
	KindReload        = "playbooks.reload"
	KindApproval      = "approval"
	// KindCheckpoint marks where retention compacted older records away;
	// its data carries the sequence and hash of the last removed record.
	KindCheckpoint = "audit.checkpoint"
)

// Record is one audit entry. Seq, Prev and Hash are filled by the store when
// the record is chained; everything else by the writer.
type Record struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
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
	Kind     string
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
