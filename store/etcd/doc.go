// Package etcd is the first brick of Firebreak's clustered mode (issue 15):
// the state several replicas share, kept in an etcd cluster instead of one
// bbolt file.
//
// It owns, under one key prefix (store.etcd.prefix, default /firebreak):
//
//   - the durable inbox (AppendEvents): an event is committed to a quorum
//     before the call returns, concurrent callers on one replica share one
//     transaction (group commit, split to stay within etcd's 128 operations
//     and 1.5 MiB per transaction), and idempotency keys are shared, so a
//     re-send that reaches another replica is recognised as a duplicate;
//   - step claims (Claim, CommitOutcome): a step is claimed at most once
//     cluster-wide by a transaction, the claim's revision is the fencing
//     token, and an outcome is only committed while the claim's lease still
//     holds, so a replica that lost its lease cannot commit a late outcome;
//   - the kill switch (SetKillSwitch, WatchKillSwitch): pausing on one
//     replica is seen by every other at once through a watch.
//
// Correctness rests on etcd's linearizable compares inside transactions,
// never on client-side locks (concurrency.Mutex is not used).
//
// The package is not wired yet: no command or config loader opens it, and
// the single-node bbolt store (package store) stays the default. It must not
// import the engine's runtime or anything under cmd; it stores what it is
// given and makes no network calls other than to the configured etcd
// endpoints.
package etcd
