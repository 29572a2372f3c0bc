// Command firebreak is the incident-response automation engine: `serve`
// runs it; the other subcommands validate playbooks and read the audit trail.
//
// It owns the command line: flags, subcommands, their output and exit
// codes. It composes through package app and must not hold engine, store or
// HTTP logic of its own; every error message it prints ends with a newline.
package main
