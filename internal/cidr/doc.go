// Package cidr reads the address ranges Firebreak's configuration lists
// (guards.protected_cidrs, a source's allow_cidrs, http.trusted_proxies,
// actions.http's allow and deny lists, the firewall's allowlist): a CIDR
// or a single address, one way for every part, so that a range means the
// same to each. It is a leaf: it imports only the standard library, and
// every layer may import it. It must not grow a project import, and it
// only parses: what a range allows or refuses is its caller's decision.
package cidr
