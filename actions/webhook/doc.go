// Package webhook implements webhook.notify: an HTTP POST of a JSON body,
// signed in the Standard Webhooks format when a secret is configured.
//
// Every request goes through the outbound policy (package
// actions/outbound), so event data cannot choose where it connects; it must
// not dial on its own, follow redirects unless the step asks, nor put the
// URL's secrets or the signing secret into results, errors or logs.
package webhook
