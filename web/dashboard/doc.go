// Package dashboard is Firebreak's web page: an overview, incident
// timelines, the approval queue, breakers and budgets, the kill switch, the loaded
// playbooks with a test box, and the audit trail. It is server-rendered
// html/template with htmx (vendored, embedded) for live refresh and
// in-place actions; every page also works without JavaScript.
//
// The package owns sessions, CSRF tokens and role checks for the pages.
// Sessions live in the state store (Deps.State, bucket dashboard_sessions),
// so they survive a restart and are shared by the replicas of a cluster;
// each request re-checks its session against the tokens configured now.
// It depends only on the small interfaces declared in deps.go, so it never
// reaches into the store, the engine or the configuration: package web
// mounts it on its router and supplies the Authenticator (the API's token
// table), the approval gate and the guard; cmd/firebreak/app supplies the
// store-backed parts (the state store, timelines, the test box, the
// redactor). It must never
// render a secret (records, event data, targets and verdicts pass through
// the configured redactor) and must never execute or write anything from
// the playbook test box.
package dashboard
