// Package playbooks loads, validates and compiles playbooks: YAML files whose
// rules and parameter templates are expr expressions over the normalised
// event. Everything is compiled once at load time; matching and rendering on
// the hot path only run compiled programs, which are safe for concurrent use.
//
// Loading is strict and reports every problem of every file at once, each
// at its file:line:col — for expression errors, at the broken token inside
// the YAML scalar, whatever its style. The key tables in keys.go are the one
// source of the format: the loader, the JSON Schema (Schema) and
// docs/playbooks.md's key tables (checked by a test) all follow them.
//
// A Set indexes its playbooks by the event name and source their rules
// require, so that matching an event against many playbooks runs few rules.
//
// The package knows nothing of HTTP, the store or how actions run; it only
// asks the action registry whether an action id exists and whether literal
// parameters are acceptable. Sub-package playtest runs offline tests.
package playbooks
