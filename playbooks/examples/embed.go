// Package examples embeds the example playbooks that `firebreak serve` loads
// when no playbook directory is configured.
package examples

import "embed"

// FS holds the example playbook files at its root.
//
//go:embed *.yaml
var FS embed.FS
