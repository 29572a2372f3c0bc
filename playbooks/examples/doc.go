// Package examples embeds the example playbooks that `firebreak serve` loads
// when no playbook directory is configured.
//
// It holds YAML files and the embed only: it must not import the playbooks
// loader (the caller loads them) nor hold examples the tests do not
// validate.
package examples
