// Package engine is Firebreak's dispatcher: it takes accepted events from
// the inbox, matches them against the loaded playbooks, plans each step,
// runs the guards, parks steps that need approval, executes the rest through
// the action registry, and writes every decision to the audit trail.
//
// The engine never imports the HTTP layer or a database: the small
// interfaces it needs (Store, Guard, Approver, Observer) are declared here
// and implemented elsewhere.
package engine
