// Package engine is Firebreak's dispatcher: it takes accepted events from
// the inbox, matches them against the loaded playbooks, plans each step,
// runs the guards, parks steps that need approval, executes the rest through
// the action registry, and writes every decision to the audit trail.
//
// The engine never imports the HTTP layer or a database: the small
// interfaces it needs (Store, Guard, Approver, Observer) are declared here
// and implemented elsewhere. Metrics reach Prometheus through observers the
// producers declare: the engine's Observer (events, matches, steps,
// refusals), approval.Observer (decisions and their wait) and
// store.AuditObserver (committed records by kind, reloads); cmd passes the
// one implementation, web/metrics, to each.
//
// Five leaf packages live under engine but are imported from below it:
// actions and actions/slack import engine/event (and actions/slack
// engine/keylock, and engine/approval/notify to implement the approval
// gate's Notifier), actions/builtin engine/state, and store engine/audit,
// engine/event and engine/state. These arrows run up the folder tree only:
// the leaves import nothing of the project but each other (engine/state
// imports engine/audit, engine/approval/notify engine/event; event, audit
// and keylock import nothing), so no package below engine depends on the
// engine itself, the playbooks or any integration
// (TestLowerLayersImportOnlyEngineLeaves in engine/approval checks it).
// They stay under engine because the top-level layout is fixed (cmd,
// engine, playbooks, actions, store, web) and these are the engine's
// vocabulary: the event it decides on, the record it writes, the
// transaction its guards run in, the per-key lock and the gate's notifier
// contract. A leaf that gains a project import must move, not grow.
//
// One arrow still runs from a lower folder to a non-leaf: playbooks/playtest
// (the `firebreak test` harness) imports engine/plan, the one plan stage it
// shares with the engine and replay. engine/plan imports only actions,
// engine/event and playbooks, never the engine itself.
package engine
