// Package playbooks loads, validates and compiles playbooks: YAML files whose
// rules and parameter templates are expr expressions over the normalised
// event. Everything is compiled once at load time; matching and rendering on
// the hot path only run compiled programs, which are safe for concurrent use.
//
// The package knows nothing of HTTP, the store or how actions run; it only
// asks the action registry whether an action id exists and whether literal
// parameters are acceptable.
package playbooks
