package store

import (
	"sync/atomic"

	"github.com/firebreak/firebreak/engine/audit"
)

// AuditObserver is told of the audit records the store committed. The
// store declares it and calls nothing above itself: whoever wires the
// store (cmd) passes an implementation, the metrics for one.
type AuditObserver interface {
	// AuditWritten is called once per record, after the transaction that
	// wrote it committed, on the commit loop: it must be cheap, must not
	// block and must not use the store.
	AuditWritten(rec audit.Record)
}

// auditHooks are the optional redactor, observer, checkpoint signer and
// signed-checkpoint hook of the audit path. They are set once at wiring
// time, before the store is written to, and read atomically.
type auditHooks struct {
	redact   atomic.Pointer[func(audit.Record) audit.Record]
	observer atomic.Pointer[AuditObserver]
	signer   atomic.Pointer[signer]
	signed   atomic.Pointer[func(audit.SignedCheckpoint)]
}

// SetRedactor installs fn, which every audit record passes through before
// it is encoded, hashed and written: what fn removes never reaches the file.
// fn must not modify maps it was given (copy them), must be cheap, and must
// be deterministic, since a transaction function may run more than once.
func (d *DB) SetRedactor(fn func(audit.Record) audit.Record) {
	d.hooks.redact.Store(&fn)
}

// SetAuditObserver installs o, told of every audit record once committed.
func (d *DB) SetAuditObserver(o AuditObserver) {
	d.hooks.observer.Store(&o)
}

// afterCommit reports the records and signed checkpoints a committed
// transaction wrote.
func (d *DB) afterCommit(tx *Tx) {
	if o := d.hooks.observer.Load(); o != nil {
		for _, r := range tx.audited {
			(*o).AuditWritten(r)
		}
	}
	if fn := d.hooks.signed.Load(); fn != nil {
		for _, cp := range tx.signed {
			(*fn)(cp)
		}
	}
}
