package main

import (
	"fmt"
	"io"
)

// cmdTest runs offline playbook tests (issue 3).
func cmdTest(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "firebreak: test is not implemented yet")
	return 1
}

// cmdSchema prints the playbook JSON Schema (issue 3).
func cmdSchema(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "firebreak: schema is not implemented yet")
	return 1
}
