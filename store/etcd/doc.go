// Package etcd is Firebreak's clustered store (issue 15): a store.Backend
// whose state several replicas share in one etcd cluster, instead of one
// bbolt file. *Store implements store.Backend with the bbolt store's
// contract, cluster-wide.
//
// Everything lives under one key prefix (store.etcd.prefix, default
// /firebreak):
//
//   - inbox/<seq>, seen/<id>, pending/<seq>, meta/seq: the durable inbox.
//     AppendEvents commits to a quorum before it returns; concurrent
//     callers share transactions (group commit, split to stay within
//     etcd's 128 operations and 1.5 MiB per transaction); idempotency keys
//     are shared, so a re-send that reaches another replica is a duplicate.
//     Each replica numbers its events from its own block of 1024
//     sequence numbers, reserved by moving meta/seq in one
//     compare-and-swap, so replicas accepting at once do not contend on
//     one counter; sequences are unique, increasing per replica, with
//     gaps, and the inbox is in arrival order block by block.
//   - members/<node>: this replica's session, on its lease (Config.
//     SessionTTL, default 10s). Its CreateRevision is the fencing token:
//     every commit compares it, so a replica that lost its lease (a
//     partition, a long pause) commits nothing — not a late step outcome,
//     not an event — and fails with ErrFenced until it has a new session.
//     Tx.FencingToken returns it, and step.started records carry it
//     (data.fencing_token, data.node).
//   - pending/<seq> names the session that owns the event. Pending returns
//     this replica's own; when a session ends, any replica's takeover
//     (a watch on members/, and every TakeoverInterval) rewrites the
//     markers of its unfinished events to itself, and Pending returns them
//     once, whatever the engine's cursor (Takeovers tells when). A step the
//     dead replica had started is found by the engine's claim in the state
//     buckets and recorded step.interrupted, as after a restart. A replica
//     that lost its session cannot commit for an event another replica
//     took over: Tx.Finish fails with ErrFenced, and so does Tx.Own, which
//     the engine should call in each commit it makes for an event (a
//     step's outcome that rides on the next step's claim). Events of
//     one alert accepted by one replica are processed in order; two
//     replicas that accepted events of one alert process theirs in
//     parallel (each step still runs at most once).
//   - state/<bucket>/<key>: the engine's state.Tx. Update is an optimistic,
//     serializable transaction: a replica's queued functions run against
//     one snapshot revision, each in its own overlay (a function's error
//     drops its effects alone), and commit as one etcd transaction whose
//     compares are what they read (ModRevision of each key found,
//     CreateRevision 0 of each key found missing, a range compare for each
//     ForEach, plus each key of a range of at most eight). When another
//     replica changed any of it, the group runs again at a newer revision.
//     The range compare cannot see a key deleted from a larger range since
//     the snapshot. Guards, dedupe windows, budgets, breakers and approvals
//     (two-person rule, plan binding) are thus cluster-wide through the Tx.
//   - audit/<seq>, audit/head, auditidx/…, meta/audit_checkpoint: one hash
//     chain for the cluster, records stored byte for byte as the bbolt
//     store does (sha256 ‖ JSON). Records are chained when the transaction
//     commits, against the head, in a nested transaction: a head another
//     replica moved only re-chains the records, the functions do not run
//     again. ListAudit, AuditForEvent, VerifyAudit(With), signed
//     checkpoints and Compact have the bbolt store's semantics.
//   - leader/…: an election (concurrency.Election on the session).
//     Campaign, IsLeader, LeaderChanges, and UpdateAsLeader, whose commit
//     also compares the leader key, so a deposed leader's timers commit
//     nothing (ErrNotLeader).
//   - WatchBucket tells of changes to a state bucket on any replica (the
//     guard's kill switch, guard_control: a resume on one replica releases
//     held steps on all).
//   - meta/kill: a standalone kill switch, watched (WatchKillSwitch). Claim and
//     CommitOutcome are a standalone step claim on a caller's lease.
//
// Correctness rests on etcd's linearizable compares inside transactions,
// never on client-side locks (concurrency.Mutex is not used).
//
// Size. etcd's default quota is 2 GiB (--quota-backend-bytes). An audit
// record is about 400–700 bytes of JSON plus its 32-byte hash, and each
// of its one or two index keys about 100 bytes; with etcd's per-key
// overhead (~40 bytes) a record costs about 0.8 KiB. Every commit also
// rewrites audit/head and the state keys it touches: etcd keeps those
// old revisions until it compacts, so run it with
// --auto-compaction-retention (e.g. 1h) and defragment after retention.
// Keeping half the quota for the inbox, the state and the uncompacted
// history, about 1.3 million audit records fit in 2 GiB; at four records
// per event, roughly 300,000 processed events. Set retention (Compact:
// max_records / max_bytes) below that.
//
// The package must not import the engine's runtime or anything under cmd;
// it stores what it is given and makes no network calls other than to the
// configured etcd endpoints. The single-node bbolt store (package store)
// stays the default.
package etcd
