package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

var keyAuditCheckpoint = []byte("audit_checkpoint") // meta: the newest Checkpoint, JSON

// compactChunk bounds the records one compaction transaction removes, so
// the commit loop (and with it ingest) is never held for long.
const compactChunk = 5000

// checkpointReserve is room kept for the checkpoint record when trimming
// to MaxBytes (its stored size is about 350 bytes).
const checkpointReserve = 1024

// Retention says what old data Compact removes. Zero fields keep everything.
type Retention struct {
	// MaxAge removes audit records older than this.
	MaxAge time.Duration
	// MaxRecords keeps at most this many audit records (the newest).
	MaxRecords int
	// MaxBytes keeps the stored audit records (hash and JSON body, as
	// stored: packed, auditcodec.go) within this many bytes, removing the
	// oldest.
	MaxBytes int64
	// InboxMaxAge removes finished inbox events received longer ago than
	// this, with their idempotency keys. A pending event is never removed.
	InboxMaxAge time.Duration
	// ForgetEvent, when set, is called in the same transaction for every
	// inbox event removed, so the owner of per-event state (the engine's
	// step claims) drops it too.
	ForgetEvent func(tx state.Tx, eventID string) error
	// Sweep, when set, runs once per Compact after the inbox, in its own
	// transaction, to drop state that outlived the events it refers to
	// (the engine's on_resolved marks). It returns how many entries went.
	Sweep func(tx state.Tx) (int, error)
}

// Checkpoint is what remains of compacted audit records: the sequence and
// the hash of the last one removed, so the chain after it stays verifiable.
type Checkpoint struct {
	// RemovedThrough is the sequence of the last removed record.
	RemovedThrough uint64 `json:"removed_through"`
	// RemovedHash is the hex SHA-256 of that record's stored body: the
	// first kept record's prev.
	RemovedHash string `json:"removed_hash"`
	// Removed counts every record compacted away since the trail began.
	Removed uint64 `json:"removed"`
	// Before is the newest removed record's time.
	Before time.Time `json:"before"`
}

// CompactResult reports what one Compact call removed.
type CompactResult struct {
	AuditRemoved int
	InboxRemoved int
	// Swept is what Retention.Sweep removed.
	Swept int
	// Checkpoint is the checkpoint after the compaction, nil when no
	// record was ever compacted away.
	Checkpoint *Checkpoint
}

func readCheckpoint(tx *boltTx) (*Checkpoint, error) {
	raw := tx.Bucket(bucketMeta).Get(keyAuditCheckpoint)
	if raw == nil {
		return nil, nil
	}
	var cp Checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint: %v: %w", err, audit.ErrChainBroken)
	}
	return &cp, nil
}

func checkpointFromRecord(r *audit.Record) (Checkpoint, error) {
	b, err := json.Marshal(r.Data)
	if err != nil {
		return Checkpoint{}, err
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint data: %w", err)
	}
	return cp, nil
}

// AuditCheckpoint returns the newest checkpoint, or nil when nothing was
// ever compacted away.
func (d *DB) AuditCheckpoint(_ context.Context) (*Checkpoint, error) {
	var cp *Checkpoint
	err := d.bolt.View(func(tx *boltTx) error {
		var err error
		cp, err = readCheckpoint(tx)
		return err
	})
	return cp, err
}

// Compact applies the retention policy. Old audit records are removed from
// the start of the trail in chunks; each chunk's transaction records a
// checkpoint in the meta bucket and appends an audit.checkpoint record to
// the trail naming the same sequence and hash, so VerifyAudit proves the
// remaining chain and notices a checkpoint moved to hide more. Finished
// inbox events older than InboxMaxAge are removed with their idempotency
// keys; pending events are kept whatever their age.
func (d *DB) Compact(ctx context.Context, r Retention) (CompactResult, error) {
	var res CompactResult
	if err := d.syncInbox(ctx); err != nil {
		return res, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n, err := d.compactAuditChunk(ctx, r)
		if err != nil {
			return res, err
		}
		res.AuditRemoved += n
		if n < compactChunk {
			break
		}
	}
	if r.InboxMaxAge > 0 {
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			n, more, err := d.compactInboxChunk(ctx, d.opts.Now().Add(-r.InboxMaxAge), r.ForgetEvent)
			if err != nil {
				return res, err
			}
			res.InboxRemoved += n
			if !more {
				break
			}
		}
	}
	if r.Sweep != nil {
		err := d.Update(ctx, func(tx state.Tx) error {
			n, err := r.Sweep(tx)
			res.Swept = n
			return err
		})
		if err != nil {
			return res, fmt.Errorf("retention sweep: %w", err)
		}
	}
	cp, err := d.AuditCheckpoint(ctx)
	res.Checkpoint = cp
	return res, err
}

// compactAuditChunk removes up to compactChunk records and returns how many.
func (d *DB) compactAuditChunk(ctx context.Context, r Retention) (int, error) {
	if r.MaxAge <= 0 && r.MaxRecords <= 0 && r.MaxBytes <= 0 {
		return 0, nil
	}
	removed := 0
	err := d.Update(ctx, func(stx state.Tx) error {
		tx := stx.(*Tx)
		removed = 0
		b := tx.tx.Bucket(bucketAudit)
		cp, err := readCheckpoint(tx.tx)
		if err != nil {
			return err
		}
		if cp == nil {
			cp = &Checkpoint{}
		}
		total := b.Stats().KeyN
		// The checkpoint record this chunk appends counts too: trim to one
		// below the cap, so that a run at the cap removes nothing.
		overCap := r.MaxRecords > 0 && total > r.MaxRecords
		var size int64
		if v := tx.tx.Bucket(bucketMeta).Get(keyAuditBytes); len(v) == 8 {
			size = int64(btoi(v))
		}
		overSize := r.MaxBytes > 0 && size > r.MaxBytes
		var removedBytes int64
		cutoff := time.Time{}
		if r.MaxAge > 0 {
			cutoff = tx.Now().Add(-r.MaxAge)
		}
		var last audit.Record
		var lastSum []byte
		c := b.Cursor()
		for k, stored := c.First(); k != nil && removed < compactChunk; k, stored = c.First() {
			v, err := unpackRecord(stored, nil)
			if err != nil {
				return fmt.Errorf("audit record %d: %w", btoi(k), err)
			}
			rec, err := DecodeRecord(btoi(k), v)
			if err != nil {
				return err
			}
			byCount := overCap && total-removed >= r.MaxRecords
			byAge := !cutoff.IsZero() && rec.Time.Before(cutoff)
			// Room is left for the checkpoint record, as for the count.
			bySize := overSize && size-removedBytes+checkpointReserve > r.MaxBytes
			if !byCount && !byAge && !bySize {
				break
			}
			removedBytes += int64(len(stored))
			sum := sha256.Sum256(v[sha256.Size:])
			lastSum = sum[:]
			last = rec
			if err := unindexAudit(tx.tx, &rec); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			removed++
		}
		if removed == 0 {
			return nil
		}
		if err := addAuditBytes(tx.tx.Bucket(bucketMeta), -removedBytes); err != nil {
			return err
		}
		next := Checkpoint{
			RemovedThrough: last.Seq,
			RemovedHash:    hex.EncodeToString(lastSum),
			Removed:        cp.Removed + uint64(removed),
			Before:         last.Time,
		}
		raw, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if err := tx.tx.Bucket(bucketMeta).Put(keyAuditCheckpoint, raw); err != nil {
			return err
		}
		return tx.Audit(audit.Record{
			Kind:    audit.KindCheckpoint,
			Outcome: "compacted",
			Message: fmt.Sprintf("retention removed %d record(s) through %d", removed, last.Seq),
			Data: map[string]any{
				"removed_through": next.RemovedThrough,
				"removed_hash":    next.RemovedHash,
				"removed":         next.Removed,
				"before":          next.Before,
			},
		})
	})
	if err != nil {
		return 0, fmt.Errorf("compact audit trail: %w", err)
	}
	return removed, nil
}

// compactInboxChunk removes up to compactChunk finished events received
// before cutoff. It reports whether more may remain.
func (d *DB) compactInboxChunk(ctx context.Context, cutoff time.Time, forget func(state.Tx, string) error) (int, bool, error) {
	removed, more := 0, false
	err := d.Update(ctx, func(stx state.Tx) error {
		tx := stx.(*Tx)
		removed, more = 0, false
		inbox := tx.tx.Bucket(bucketInbox)
		pending := tx.tx.Bucket(bucketPending)
		seen := tx.tx.Bucket(bucketSeen)
		var dead [][]byte
		var refs []uint64
		c := inbox.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var ev struct {
				ID         string    `json:"id"`
				ReceivedAt time.Time `json:"received_at"`
				RawRef     uint64    `json:"raw_ref"`
			}
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("event %d: %w", btoi(k), err)
			}
			if !ev.ReceivedAt.Before(cutoff) {
				break // the inbox is in arrival order
			}
			if pending.Get(k) != nil {
				continue // never drop an event that was not processed
			}
			if len(dead) == compactChunk {
				more = true
				break
			}
			if s := seen.Get([]byte(ev.ID)); s != nil && btoi(s) == btoi(k) {
				if err := seen.Delete([]byte(ev.ID)); err != nil {
					return err
				}
			}
			if forget != nil {
				if err := forget(tx, ev.ID); err != nil {
					return err
				}
			}
			dead = append(dead, append([]byte(nil), k...))
			if ev.RawRef != 0 && !slices.Contains(refs, ev.RawRef) {
				refs = append(refs, ev.RawRef)
			}
		}
		for _, k := range dead {
			if err := inbox.Delete(k); err != nil {
				return err
			}
			// Gone from the file, so gone from the handoff too (dropping
			// it from there is harmless should this commit fail).
			d.handoff.Drop(btoi(k))
		}
		// A shared body goes with the last event naming it. Those events
		// have consecutive sequences from the body's key, so the first
		// event left at or after that key names it if any does.
		raws := tx.tx.Bucket(bucketRaw)
		for _, ref := range refs {
			k, v := inbox.Cursor().Seek(itob(ref))
			var next struct {
				RawRef uint64 `json:"raw_ref"`
			}
			if k != nil && json.Unmarshal(v, &next) == nil && next.RawRef == ref {
				continue
			}
			if err := raws.Delete(itob(ref)); err != nil {
				return err
			}
		}
		removed = len(dead)
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("compact inbox: %w", err)
	}
	return removed, more, nil
}
