package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
)

var keyAuditHead = []byte("audit_head") // seq ‖ sha256 of the newest record

// Audit chains rec to the trail inside the transaction: it gets the next
// sequence, the hash of the record before it, and the clock's time if unset.
// The stored value is sha256(body) ‖ body, where body is the record's JSON.
func (t *Tx) Audit(rec audit.Record) error {
	b := t.tx.Bucket(bucketAudit)
	prev := make([]byte, sha256.Size)
	if head := t.tx.Bucket(bucketMeta).Get(keyAuditHead); len(head) == 8+sha256.Size {
		copy(prev, head[8:])
	}
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	rec.Seq = seq
	rec.Prev = hex.EncodeToString(prev)
	if rec.Time.IsZero() {
		rec.Time = t.Now()
	}
	rec.Time = rec.Time.UTC()
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit: encode %s: %w", rec.Kind, err)
	}
	sum := sha256.Sum256(body)
	val := make([]byte, 0, sha256.Size+len(body))
	val = append(val, sum[:]...)
	val = append(val, body...)
	if err := b.Put(itob(seq), val); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	head := append(itob(seq), sum[:]...)
	return t.tx.Bucket(bucketMeta).Put(keyAuditHead, head)
}

// Audit writes records to the trail in one group-committed transaction.
func (d *DB) Audit(ctx context.Context, recs ...audit.Record) error {
	return d.Update(ctx, func(stx state.Tx) error {
		tx := stx.(*Tx)
		for _, r := range recs {
			if err := tx.Audit(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditQuery selects audit records. Zero fields match everything.
type AuditQuery struct {
	// After is the paging cursor: only records with a greater sequence.
	After    uint64
	Limit    int
	EventID  string
	Playbook string
	Action   string
	Kind     string
	Outcome  string
	Since    time.Time
	Until    time.Time
}

func (q AuditQuery) match(r *audit.Record) bool {
	return (q.EventID == "" || r.EventID == q.EventID) &&
		(q.Playbook == "" || r.Playbook == q.Playbook) &&
		(q.Action == "" || r.Action == q.Action) &&
		(q.Kind == "" || r.Kind == q.Kind) &&
		(q.Outcome == "" || r.Outcome == q.Outcome) &&
		(q.Since.IsZero() || !r.Time.Before(q.Since)) &&
		(q.Until.IsZero() || r.Time.Before(q.Until))
}

// ListAudit returns the records matching q in sequence order, and the cursor
// for the next page (0 when there is none).
func (d *DB) ListAudit(_ context.Context, q AuditQuery) ([]audit.Record, uint64, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var out []audit.Record
	var next uint64
	err := d.bolt.View(func(tx *boltTx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(itob(q.After + 1)); k != nil; k, v = c.Next() {
			if len(v) < sha256.Size {
				return fmt.Errorf("audit record %d: %w", btoi(k), ErrChainBroken)
			}
			var r audit.Record
			if err := json.Unmarshal(v[sha256.Size:], &r); err != nil {
				return fmt.Errorf("audit record %d: %w", btoi(k), err)
			}
			if !q.match(&r) {
				continue
			}
			if len(out) == q.Limit {
				next = out[len(out)-1].Seq
				return nil
			}
			out = append(out, r)
		}
		return nil
	})
	return out, next, err
}

// VerifyAudit walks the whole chain and returns the number of records
// checked, or an error wrapping ErrChainBroken that names the first record
// that was altered, removed or inserted.
func (d *DB) VerifyAudit(_ context.Context) (int, error) {
	n := 0
	err := d.bolt.View(func(tx *boltTx) error {
		prev := make([]byte, sha256.Size)
		var lastSeq uint64
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq := btoi(k)
			if len(v) < sha256.Size {
				return fmt.Errorf("record %d: truncated: %w", seq, ErrChainBroken)
			}
			body := v[sha256.Size:]
			sum := sha256.Sum256(body)
			if !bytes.Equal(sum[:], v[:sha256.Size]) {
				return fmt.Errorf("record %d: content does not match its hash: %w", seq, ErrChainBroken)
			}
			var r audit.Record
			if err := json.Unmarshal(body, &r); err != nil {
				return fmt.Errorf("record %d: %v: %w", seq, err, ErrChainBroken)
			}
			if r.Seq != seq {
				return fmt.Errorf("record %d: claims sequence %d: %w", seq, r.Seq, ErrChainBroken)
			}
			if seq != lastSeq+1 {
				return fmt.Errorf("record %d: records %d to %d are missing: %w", seq, lastSeq+1, seq-1, ErrChainBroken)
			}
			if r.Prev != hex.EncodeToString(prev) {
				return fmt.Errorf("record %d: previous-hash link does not match record %d: %w", seq, lastSeq, ErrChainBroken)
			}
			copy(prev, sum[:])
			lastSeq = seq
			n++
		}
		head := tx.Bucket(bucketMeta).Get(keyAuditHead)
		if lastSeq == 0 && head == nil {
			return nil
		}
		if len(head) != 8+sha256.Size || btoi(head[:8]) != lastSeq || !bytes.Equal(head[8:], prev) {
			var want uint64
			if len(head) >= 8 {
				want = btoi(head[:8])
			}
			return fmt.Errorf("record %d: trail ends at %d but the head says %d: %w", lastSeq+1, lastSeq, want, ErrChainBroken)
		}
		return nil
	})
	return n, err
}
