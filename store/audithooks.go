package store

import (
	"sync/atomic"

	"github.com/firebreak/firebreak/engine/audit"
)

// auditHooks are the optional functions and keys the audit path uses. They
// are set once at wiring time, before the store is written to, and read
// atomically.
type auditHooks struct {
	redact  atomic.Pointer[func(audit.Record) audit.Record]
	written atomic.Pointer[func(audit.Record)]
	signer  atomic.Pointer[signer]
	signed  atomic.Pointer[func(audit.SignedCheckpoint)]
}

// SetRedactor installs fn, which every audit record passes through before
// it is encoded, hashed and written: what fn removes never reaches the file.
// fn must not modify maps it was given (copy them), must be cheap, and must
// be deterministic, since a transaction function may run more than once.
func (d *DB) SetRedactor(fn func(audit.Record) audit.Record) {
	d.hooks.redact.Store(&fn)
}

// OnAuditWritten installs fn, called once for every audit record after the
// transaction that wrote it committed (for the records-written metric).
// It runs on the commit loop, so it must be cheap and must not block.
func (d *DB) OnAuditWritten(fn func(audit.Record)) {
	d.hooks.written.Store(&fn)
}

// afterCommit reports the records and signed checkpoints a committed
// transaction wrote.
func (d *DB) afterCommit(tx *Tx) {
	if fn := d.hooks.written.Load(); fn != nil {
		for _, r := range tx.audited {
			(*fn)(r)
		}
	}
	if fn := d.hooks.signed.Load(); fn != nil {
		for _, cp := range tx.signed {
			(*fn)(cp)
		}
	}
}
