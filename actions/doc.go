// Package actions owns the Action contract, the registry that holds the
// actions a process may run, and the parameter checks every action shares.
// Each integration lives in its own sub-package (actions/webhook,
// actions/kubernetes, …) and the built-ins are listed in one place,
// actions/builtin. Nothing registers itself from init: every caller, tests
// included, builds its own Registry.
package actions
