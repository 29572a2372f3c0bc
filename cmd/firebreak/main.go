// Command firebreak is the incident-response automation engine: `serve`
// runs it; the other subcommands validate playbooks and read the audit trail.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
