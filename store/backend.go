package store

import (
	"context"
	"crypto/ed25519"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

// Backend is everything the server needs from its state store. *DB (one
// bbolt file, single node) implements it, and so does the clustered store
// in package store/etcd; the server is composed against Backend only, so
// that the single-node and clustered modes run the same engine, guards,
// approvals and HTTP surface.
//
// The contract every implementation keeps:
//   - AppendEvents returns only after the events are durable (fsync or an
//     etcd quorum); an event is never acknowledged otherwise;
//   - Update runs fn atomically and durably; fn may run more than once and
//     must only read and write through its Tx; concurrent Updates are
//     serializable (cluster-wide, for a clustered store);
//   - the audit trail is one hash chain that VerifyAudit checks end to end;
//   - Ready fails while commits cannot be made (a full disk, no quorum).
type Backend interface {
	// The inbox.
	AppendEvents(ctx context.Context, events []event.Event) ([]uint64, error)
	Pending(ctx context.Context, after uint64, limit int) ([]uint64, error)
	PendingCount() int
	Event(ctx context.Context, seq uint64) (event.Event, error)
	EventByID(ctx context.Context, id string) (uint64, event.Event, error)
	EventsSince(ctx context.Context, sinceUnixNano int64, fn func(seq uint64, ev event.Event) error) error

	// State.
	Update(ctx context.Context, fn func(state.Tx) error) error
	View(ctx context.Context, fn func(state.Tx) error) error

	// The audit trail.
	Audit(ctx context.Context, recs ...audit.Record) error
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Record, uint64, error)
	AuditHeads(ctx context.Context, q audit.Query) ([]audit.Head, uint64, error)
	AuditForEvent(ctx context.Context, eventID string) ([]audit.Record, error)
	VerifyAudit(ctx context.Context) (int, error)
	VerifyAuditWith(ctx context.Context, opts audit.VerifyOptions) (audit.VerifyReport, error)
	AuditBytes(ctx context.Context) (int64, error)
	AuditCheckpoint(ctx context.Context) (*Checkpoint, error)
	SetRedactor(fn func(audit.Record) audit.Record)
	SetAuditObserver(o AuditObserver)
	SetSigner(key ed25519.PrivateKey, every int)
	OnCheckpointSigned(fn func(audit.SignedCheckpoint))
	SignCheckpoint(ctx context.Context) (*audit.SignedCheckpoint, error)

	// Dead letters.
	ListDLQ(ctx context.Context) ([]DLQEntry, error)
	DLQCount(ctx context.Context) (int, error)

	// Housekeeping.
	Compact(ctx context.Context, r Retention) (CompactResult, error)
	Ready(ctx context.Context) error
	Close() error
}

var _ Backend = (*DB)(nil)
