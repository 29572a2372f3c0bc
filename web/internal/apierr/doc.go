// Package apierr maps the domain's errors to HTTP status codes, once for
// the JSON API (package web) and the dashboard's pages (package
// web/dashboard), so that both answer a refused decision alike. It writes
// no response and knows nothing of gin: each caller words its own answer.
package apierr
