// Package config owns Firebreak's configuration file: its shape (Config and
// its sections), its strict decoding, the one secret resolver every part
// uses, and the validation of every section before anything starts.
//
// Load decodes a file strictly through yaml.v3 nodes, so that every problem
// carries its position, then validates sources, auth, actions, guards,
// approvals, audit and api in one pass and returns every problem at once as
// Problems ("file:line:col: key.path: message"); the node walking, the
// placing of YAML syntax errors and the problem list are playbooks/yamlpos,
// which the playbook loader uses too. Validate does the same for
// a Config built in Go (tests), without positions. Neither opens a database,
// listens or calls out: the Resolved values they return (secrets read,
// authenticators and decoders built, rates parsed) are what the app wires.
//
// The package must not start anything, log, or put a secret's value into an
// error.
package config
