// Package playtest runs offline playbook tests, in the spirit of `promtool
// test rules`: a test file names playbooks, input events (payloads in any
// source format, or inline events) and the decisions expected for each
// event — which playbooks match, which steps would run with exactly which
// rendered parameters, which are skipped and why.
//
// It only evaluates: rules, `when` conditions, templates and each action's
// Validate. It never runs an action, writes no state and makes no network
// call, so it is safe in CI. Guards (dedupe windows, budgets, breakers) are
// stateful and not simulated; the dedupe key and the target are shown.
package playtest
