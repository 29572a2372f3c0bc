// Package outbound owns the one HTTP client every action that makes HTTP
// calls uses, and the policy that decides where it may connect. The policy
// is checked at dial time on the resolved address, so a name that resolves
// to a refused address (DNS rebinding included) is never connected to:
//
//   - link-local (cloud metadata at 169.254.169.254, fe80::/10),
//     unspecified, broadcast and multicast addresses are always refused;
//   - when the URL's host comes from event data (a template) or from a
//     redirect, loopback, private ranges (RFC 1918, fc00::/7, 100.64.0.0/10)
//     and the host's own interface addresses are refused as well;
//   - a host the playbook author wrote literally may be internal.
//
// Allow and deny lists of CIDRs (actions.http.allow_cidrs, deny_cidrs)
// widen and narrow these defaults; a denied address is refused whatever
// else holds. Redirects are followed only when the caller asks, each hop
// checked as untrusted; proxy environment variables are ignored.
//
// The package must not know about playbooks or events: callers say how far
// a destination is trusted with a Trust value.
package outbound
