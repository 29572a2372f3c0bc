// Package approval is Firebreak's approval gate. It implements
// engine.Approver over the engine's state transaction: a step that needs a
// human is parked as a pending approval in the store (bound to a hash of its
// action id and rendered parameters), announced through a Notifier, and
// decided by allow-listed people through the notifier's buttons (Click) or
// the API. An approval that is not decided in time is denied, and one whose
// alert resolves is cancelled.
//
// The package owns the approval records, the rules of a decision (who may
// decide, two-person rule, plan binding, idempotent second clicks, expiry),
// the audit record of every decision. It knows no integration: the Notifier
// contract (with the optional GroupChecker and Replier, and the Request and
// State they show) is declared in the leaf sub-package notify, aliased
// here, which actions/slack implements for Slack without importing the
// gate; a second notifier needs no change here. It does not verify callback signatures or API tokens (the HTTP layer
// does, before calling Decide or Submit), it does not run actions (an
// approved step is handed back to the engine, which runs the guards again),
// and it never calls a notifier inside a store transaction.
package approval
