// Package approval is Firebreak's approval gate. It implements
// engine.Approver over the engine's state transaction: a step that needs a
// human is parked as a pending approval in the store (bound to a hash of its
// action id and rendered parameters), announced in Slack, and decided by
// allow-listed people through Slack buttons or the API. An approval that is
// not decided in time is denied, and one whose alert resolves is cancelled.
//
// The package owns the approval records, the rules of a decision (who may
// decide, two-person rule, plan binding, idempotent second clicks, expiry)
// and the audit record of every decision. It does not verify Slack request
// signatures or API tokens (the HTTP layer does, before calling Decide), it
// does not run actions (an approved step is handed back to the engine,
// which runs the guards again), and it never calls Slack inside a store
// transaction.
package approval
