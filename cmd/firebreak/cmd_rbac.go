package main

import (
	"fmt"
	"io"
)

// cmdRBAC prints the Kubernetes ClusterRole the loaded playbooks need.
func cmdRBAC(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "firebreak: rbac is not implemented yet")
	return 1
}
