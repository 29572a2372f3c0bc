// Package auth authenticates the webhooks that sources POST, one
// Authenticator per source, built from a Config by New.
//
// Modes: bearer (Authorization: Bearer), basic, hmac (GitHub-style
// X-Hub-Signature-256: sha256=<hex> over the body), grafana (Grafana
// alerting's X-Grafana-Alerting-Signature, hex HMAC-SHA256 over the body or
// over "timestamp:body" when a timestamp header is sent), standard-webhooks
// (webhook-id, webhook-timestamp and webhook-signature: v1,<base64> over
// "id.timestamp.body", with a time window and replay refusal), url-token
// (a token in the URL, for senders such as Splunk that cannot set headers)
// and none (only with insecure: true). Any mode may add an allowlist of
// remote address ranges.
//
// New takes secrets as literals: the config loader is the one resolver of
// their *_env and *_file spellings, and New refuses a Config that still
// holds one (ErrUnresolvedSecret), so this package never reads the
// environment or a file. Secrets never appear in errors or in Config's
// String form. Every
// comparison of a secret or a signature is constant-time. Failures are
// typed: errors.Is against the sentinels in errors.go tells the HTTP layer
// what to answer (401 for credentials, 403 for a forbidden address) and what
// to count; the wrapped text says which check failed, never the secret.
//
// This package must not read the body itself (the caller passes the bytes
// it read under its size limit), log, or know about routing or decoding.
package auth
