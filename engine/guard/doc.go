// Package guard implements engine.Guard: the safety checks that stand
// between a planned step and its execution. In order, for every step:
//
//  1. the kill switch (paused),
//  2. protected targets and parameter bounds (protected),
//  3. the playbook's dedupe window (deduped),
//  4. the playbook's budgets per target and the global caps
//     (budget_exhausted),
//  5. the circuit breaker per playbook × target (breaker_open).
//
// Every check reads and writes only through the state.Tx the engine hands
// it, inside the transaction that claims the step, so the decision to run
// and the record of it are committed together and survive a restart. The
// package makes no network call inside a transaction: breaker notifications
// are written to an outbox in the transaction and delivered afterwards by
// RunNotifier.
//
// Outside the checks it only reads: Breakers, Budgets (remaining slots per
// budget window, counted exactly as Check counts them) and PauseStatus,
// for the API and the dashboard.
//
// The package owns the guard state buckets (guard_*) of the store; it must
// not touch the engine's step claims or the inbox.
package guard
