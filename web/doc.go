// Package web is Firebreak's HTTP surface: the source receivers under
// /hooks, the JSON API under /api/v1, health and readiness probes. Handlers
// are thin adapters: they authenticate, bound and decode a request, hand the
// result to the store or the engine, and answer. Every error answer is JSON
// of the form {"error": "...", "field": "..."}.
package web
