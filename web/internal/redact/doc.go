// Package redact applies the audit trail's redactor to what the HTTP
// surface answers: the JSON API (package web) and the dashboard's pages
// (package web/dashboard) pass every event-derived string they return
// through the same Func, so the API and the pages show the same thing and
// neither shows what the audit trail would not.
package redact
