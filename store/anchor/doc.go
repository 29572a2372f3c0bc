// Package anchor keeps the audit chain's signed checkpoints where an editor
// of the database cannot reach them: it loads the ed25519 signing and
// verifying keys, and hands each checkpoint the store signs to witnesses —
// a file on another volume (one JSON line per checkpoint, synced) and an
// HTTP endpoint (POST, the newest checkpoint, retried until it is taken).
//
// It owns no store state and runs outside the store's transactions: the
// store signs checkpoints in its transactions, this package only carries
// them out after the commit. The store must not import it.
package anchor
