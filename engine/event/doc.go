// Package event defines the normalised event that every source is turned into
// and that every playbook rule is evaluated against. It is a leaf package: it
// imports only the standard library, so playbooks, actions, web and engine can
// all share it without import cycles.
//
// It must not import anything of the project, and holds no behaviour beyond
// the event's own fields and their helpers: decoding belongs to
// web/sources, matching to playbooks.
package event
