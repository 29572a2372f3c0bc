// Package yamlpos holds what the two strict YAML loaders, the playbook
// loader (package playbooks) and the configuration loader
// (cmd/firebreak/config), share: walking yaml.v3 nodes (Resolve, Join,
// KindName), placing a yaml.v3 syntax error (SyntaxError), and the list of
// positioned problems every load returns (List, Format), so that both
// report every problem at once as "file:line:col: …" in the same order and
// shape.
//
// It knows nothing of playbooks or of the configuration: each loader keeps
// its own Problem type, key tables and messages. It imports only yaml.v3
// and must stay a leaf that both loaders may import.
package yamlpos
