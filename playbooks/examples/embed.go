package examples

import "embed"

// FS holds the example playbook files at its root.
//
//go:embed *.yaml
var FS embed.FS
