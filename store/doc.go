// Package store is Firebreak's embedded state: one bbolt file holding the
// inbox of accepted events, idempotency keys, guard and approval state, and
// the hash-chained audit trail.
//
// All writes go through one group-commit loop (DB.Update): concurrent callers
// queue their transaction functions, the loop runs as many as are waiting in
// one bbolt transaction and one fsync, and answers each caller only after the
// commit. A caller is therefore never acknowledged before its data is durable,
// and an alert storm pays one fsync per batch rather than per request.
//
// Accepted events take a shorter path to durability: AppendEvents writes
// one record per request to a write-ahead log beside the file (package
// store/wal, directory <file>.wal), returns once that log's shared
// fdatasync has, and a mover copies the records into the inbox through the
// same commit loop moments later (walinbox.go). Reads of the inbox wait for
// what was acknowledged before them, so callers see no difference but the
// latency; Open moves whatever a crash left in the log.
//
// The audit trail is hash-chained and kept in time order; it is indexed by
// event id and playbook (bucket audit_idx) so that queries read only what
// they return, passed through a redactor before it is written, and
// compacted by retention behind a checkpoint that keeps the remaining chain
// verifiable (auditlog.go, auditindex.go, retention.go).
//
// The store makes no network calls and must not be given functions that do:
// a transaction function runs while the database is locked for writing, and
// may be run more than once (if another function in its batch fails), so it
// must only read and write through the Tx it is given.
package store
