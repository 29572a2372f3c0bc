package main

import (
	"fmt"
	"io"
)

// cmdApprovals lists and decides pending approvals (issue 6).
func cmdApprovals(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "firebreak: approvals is not implemented yet")
	return 1
}
