// Package builtin lists Firebreak's built-in actions in one place and
// registers them explicitly. An action whose infrastructure is not
// configured (no kubeconfig, no Slack token, firewall not enabled or no
// CAP_NET_ADMIN) is registered in dry-run, and a notice says why, so the
// caller can log it at start-up instead of failing.
//
// It must not hold an action's logic (each integration owns its own
// package) nor keep a global registry: the caller gets a fresh
// actions.Registry, and nothing registers itself in init.
package builtin
