// Package replay backtests playbooks: it re-evaluates stored events against
// the current or a candidate playbook set in shadow mode and compares each
// event's decision now with the decision the engine made then, as the audit
// trail recorded it.
//
// Replay is read-only by construction. It only evaluates rules, `when`
// conditions and parameter templates, and validates the rendered
// parameters; it never runs an action, never asks a guard (guards write
// dedupe windows and budget slots), never parks an approval, and is given
// nothing it could write with: its Source interface has only reads.
package replay
