// Package web is Firebreak's HTTP surface and owns every route: the source
// receivers under /hooks, Slack's interaction callback, the JSON API under
// /api/v1, the dashboard's pages (package dashboard, mounted here),
// /metrics, and the health and readiness probes. Nothing outside
// this package registers a route; cmd/firebreak/app only passes the parts
// (store, engine, guard, approval gate, reloader, metrics) into Config,
// through the small interfaces declared here (Guards, Approvals,
// SlackDecider, TimelineSource, Reloader, AuditWriter, DeadLetters).
//
// Every /api/v1 route goes through one authentication (apiauth.go): a
// table of bearer tokens, each with a Role (viewer < approver < operator),
// compared in constant time over SHA-256 digests. Loopback callers are not
// trusted: with no token configured only viewer routes answer, and only to
// loopback peers of a loopback listener. Refusals are audited with the
// peer address or the token's name, never the token.
//
// Routes (file):
//
//	POST /hooks/{source}[/{sub}]          receivers (server.go)
//	GET  /healthz, /readyz                probes (server.go)
//	GET  /metrics                         Prometheus (server.go)
//	GET  /api/v1/audit                    viewer (server.go)
//	GET  /api/v1/audit/verify             viewer (auditverify.go)
//	GET  /api/v1/playbooks                viewer (server.go)
//	GET  /api/v1/audit/timeline/{id}      viewer (api_timeline.go)
//	GET  /api/v1/breakers, /budgets, /pause  viewer (api_guards.go)
//	POST /api/v1/breakers/{id}/reset      operator (api_guards.go)
//	POST /api/v1/pause, /resume           operator (api_guards.go)
//	GET  /api/v1/approvals[/{id}]         viewer (api_approvals.go)
//	POST /api/v1/approvals/{id}/approve   approver (api_approvals.go)
//	POST /api/v1/approvals/{id}/deny      approver (api_approvals.go)
//	POST /api/v1/replay                   operator (api_replay.go)
//	POST /api/v1/playbooks/reload         operator (api_reload.go)
//	GET  /api/v1/dlq                      viewer (dlq.go)
//	POST /api/v1/dlq/{id}/retry, /discard operator (dlq.go)
//	POST /slack/interactions              Slack signature (slack.go, slackcallback.go)
//	GET  /, /events/…, /approvals, …      dashboard pages (dashboard.go)
//
// The dashboard signs people in with the same token table (dashAuth over
// apiAuth's lookup): a token gives its name and role to the session (and a
// salted fingerprint that ends the session once the token is removed or
// replaced: dashAuth.Current), and
// with no token configured the pages open exactly when the viewer routes
// do, for reading only.
//
// Subpackage loadbase holds the one other router of the module: the bare
// baseline receiver that cmd/fbload measures Firebreak against (it serves
// no Firebreak route).
//
// Handlers are thin adapters: they authenticate, bound and decode a
// request, hand the result to the store or the engine, and answer. Every
// error answer is JSON of the form {"error": "...", "field": "..."}. The
// package must not decide policy (guards, approvals, staleness rules live
// in engine) nor read configuration files.
package web
