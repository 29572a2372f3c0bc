// Package firewall implements the firewall.block_ip and firewall.unblock_ip
// actions on nftables, spoken to over netlink (github.com/google/nftables);
// it never shells out to the nft command.
//
// Firebreak owns one table (inet firebreak by default) holding two sets with
// per-element timeouts, blocked_ipv4 and blocked_ipv6, and two base chains,
// input and forward, each dropping packets whose source address is in either
// set. The table is created, or repaired, idempotently before each block, so
// a flushed ruleset heals itself on the next block. Every element carries its
// own timeout: a block expires in the kernel without Firebreak's help.
//
// Blocks are also recorded in a BlockStore so that Restore can re-install, with
// their remaining time, the ones still due after a restart or a flush.
//
// Some addresses are never blocked, whatever a playbook asks: configured
// allow-listed prefixes, loopback, link-local, unspecified, multicast and
// broadcast addresses, and the addresses of the target namespace itself.
//
// The package touches nothing outside its own table. It may operate in another
// network namespace (Config.NetNS), which is how its tests and a sidecar
// deployment use it.
package firewall
