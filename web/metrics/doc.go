// Package metrics is Firebreak's Prometheus instrumentation: it implements
// the engine's Observer and the web layer's ingest Metrics hook, counts the
// audit records the store writes, and serves GET /metrics from a registry
// of its own (never the global one, so every app and every test is
// independent).
//
// Every label set is bounded: sources, playbooks, actions, outcomes, refusal
// reasons, audit kinds and breaker states come from configuration or from
// fixed lists in the code; event ids, targets and addresses are never
// labels. The package reads state only through the functions it is given
// and must not write any.
package metrics
