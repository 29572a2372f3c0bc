package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

var (
	keyAuditHead  = []byte("audit_head")  // seq ‖ sha256 of the newest record
	keyAuditTime  = []byte("audit_time")  // unix nanoseconds of the newest record's time
	keyAuditBytes = []byte("audit_bytes") // stored bytes of all kept records (retention by size)
)

// Audit chains rec to the trail inside the transaction: it gets the next
// sequence, the hash of the record before it, and the clock's time if unset.
// The stored value is sha256(body) ‖ body, where body is the record's JSON.
//
// The trail is kept in time order: a record whose time is before its
// predecessor's (a clock stepped back, a writer-supplied time) is given the
// predecessor's time, so that time-range queries can binary-search the
// sequence. A configured redactor (SetRedactor) runs before the record is
// encoded, so secrets never reach the file — here, or in PrepareAudit for
// a record it prepared under the redactor still in force; the record is
// indexed by event id and playbook in the same transaction.
func (t *Tx) Audit(rec audit.Record) error {
	r := t.db.hooks.redact.Load()
	if rec.Prepared() && rec.PreparedBy() != t.db.preparedBy(r) {
		// Not prepared by PrepareAudit under the redactor in force now.
		rec = audit.Unprepared(rec)
	}
	if r != nil && rec.Kind != audit.KindCheckpoint && !rec.Prepared() {
		rec = (*r)(rec)
	}
	b := t.tx.Bucket(bucketAudit)
	b.FillPercent = appendFill
	meta := t.tx.Bucket(bucketMeta)
	prev := make([]byte, sha256.Size)
	if head := meta.Get(keyAuditHead); len(head) == 8+sha256.Size {
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
	if last := meta.Get(keyAuditTime); len(last) == 8 {
		if lt := time.Unix(0, int64(btoi(last))).UTC(); rec.Time.Before(lt) {
			rec.Time = lt
		}
	}
	val, err := audit.Seal(&rec)
	if err != nil {
		return err
	}
	stored := val
	if !t.db.plainAudit {
		stored = packRecord(val)
	}
	if err := b.Put(itob(seq), stored); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := t.indexAudit(&rec); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := meta.Put(keyAuditTime, itob(uint64(rec.Time.UnixNano()))); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := addAuditBytes(meta, int64(len(stored))); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if t.db.hooks.observer.Load() != nil {
		t.audited = append(t.audited, audit.Unprepared(rec))
	}
	head := append(itob(seq), val[:sha256.Size]...)
	if err := meta.Put(keyAuditHead, head); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if s := t.db.hooks.signer.Load(); s != nil && rec.Kind != audit.KindCheckpoint && t.checkpointDue(s, seq) {
		if _, err := t.signCheckpoint(seq, val[:sha256.Size]); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

// PrepareAudit redacts rec with the configured redactor and encodes its
// fields from Kind to Data (audit.Prepare), outside any transaction: a
// record so prepared costs Audit only the encoding of its sequence, time
// and link, in the commit loop every writer waits on. Audit stores the
// same bytes either way; a record prepared under a redactor replaced
// since is redacted and encoded again.
func (d *DB) PrepareAudit(rec audit.Record) audit.Record {
	r := d.hooks.redact.Load()
	if r != nil && rec.Kind != audit.KindCheckpoint {
		rec = (*r)(rec)
	}
	return audit.Prepare(rec, d.preparedBy(r))
}

// preparedBy is what PrepareAudit prepares records under: the redactor,
// or the store itself when there is none.
func (d *DB) preparedBy(r *func(audit.Record) audit.Record) any {
	if r == nil {
		return d
	}
	return r
}

// addAuditBytes adjusts the running size of the kept records.
func addAuditBytes(meta *bolt.Bucket, delta int64) error {
	var cur int64
	if v := meta.Get(keyAuditBytes); len(v) == 8 {
		cur = int64(btoi(v))
	}
	return meta.Put(keyAuditBytes, itob(uint64(max(cur+delta, 0))))
}

// AuditBytes returns the stored size of the kept audit records.
func (d *DB) AuditBytes(_ context.Context) (int64, error) {
	var n int64
	err := d.bolt.View(func(tx *boltTx) error {
		if v := tx.Bucket(bucketMeta).Get(keyAuditBytes); len(v) == 8 {
			n = int64(btoi(v))
		}
		return nil
	})
	return n, err
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

// ListAudit returns the records matching q in sequence order, and the cursor
// for the next page (0 when there is none).
//
// A query never scans more than it must: the time range becomes a sequence
// range by binary search (the trail is time-ordered), and an event id or a
// playbook is looked up in its index, so the cost is that of the records
// returned plus those of the index entry that fail the other filters.
func (d *DB) ListAudit(_ context.Context, q audit.Query) ([]audit.Record, uint64, error) {
	p := NewRecordPage(q)
	err := d.scanAudit(p.Query(), p.Visit)
	out, next := p.Result()
	return out, next, err
}

// AuditHeads is ListAudit returning only each record's sequence, time and
// kind, with the same filters, order and paging. A query that filters on
// the time range and the kind only (the dashboard's counters) reads no
// more of a record than the front of its JSON (audit.DecodeHead); one
// that filters on another field decodes the records as ListAudit does.
func (d *DB) AuditHeads(_ context.Context, q audit.Query) ([]audit.Head, uint64, error) {
	p := NewHeadPage(q)
	err := d.scanAudit(p.Query(), p.Visit)
	out, next := p.Result()
	return out, next, err
}

// scanAudit calls visit, in sequence order, with the sealed value
// (sha256 ‖ JSON, unpacked from the stored form) of each record that may
// match q (a time range becomes a sequence range, an event id or a
// playbook is looked up in its index; After bounds the sequence), until
// visit returns false or an error. The values are only valid inside the
// call.
func (d *DB) scanAudit(q audit.Query, visitSealed func(seq uint64, v []byte) (bool, error)) error {
	var buf []byte
	visit := func(seq uint64, v []byte) (bool, error) {
		sealed, err := unpackRecord(v, buf)
		if err != nil {
			return false, fmt.Errorf("audit record %d: %w", seq, err)
		}
		if isPacked(v) {
			buf = sealed // reused for the next packed record
		}
		return visitSealed(seq, sealed)
	}
	return d.bolt.View(func(tx *boltTx) error {
		b := tx.Bucket(bucketAudit)
		lo, hi, err := seqRange(b, q.Since, q.Until)
		if err != nil {
			return err
		}
		lo = max(lo, q.After+1)
		if lo >= hi {
			return nil
		}
		var idx *bolt.Bucket
		var prefix []byte
		switch {
		case q.EventID != "":
			idx, prefix = indexBucket(tx, idxEvent), indexPrefix(q.EventID)
		case q.Playbook != "":
			idx, prefix = indexBucket(tx, idxPlaybook), indexPrefix(q.Playbook)
		}
		if idx != nil {
			return scanIndex(idx, prefix, lo, hi, func(seq uint64) (bool, error) {
				v := b.Get(itob(seq))
				if v == nil {
					return true, nil // compacted away after the index entry was read
				}
				return visit(seq, v)
			})
		}
		c := b.Cursor()
		for k, v := c.Seek(itob(lo)); k != nil; k, v = c.Next() {
			seq := btoi(k)
			if seq >= hi {
				break
			}
			if more, err := visit(seq, v); err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// AuditForEvent returns every record of the event, in order: the
// incident's timeline.
func (d *DB) AuditForEvent(ctx context.Context, eventID string) ([]audit.Record, error) {
	var out []audit.Record
	q := audit.Query{EventID: eventID, Limit: 1000}
	for {
		recs, next, err := d.ListAudit(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if next == 0 {
			return out, nil
		}
		q.After = next
	}
}

// EventByID loads the inbox event with the given id, or returns an error
// wrapping ErrNotFound when it was never stored or retention removed it.
func (d *DB) EventByID(ctx context.Context, id string) (uint64, event.Event, error) {
	var ev event.Event
	var seq uint64
	if d.wal != nil {
		if err := d.wal.sync(ctx); err != nil {
			return 0, ev, err
		}
	}
	err := d.bolt.View(func(tx *boltTx) error {
		s := tx.Bucket(bucketSeen).Get([]byte(id))
		if s == nil {
			return fmt.Errorf("event %s: %w", id, ErrNotFound)
		}
		seq = btoi(s)
		v := tx.Bucket(bucketInbox).Get(s)
		if v == nil {
			return fmt.Errorf("event %s: %w", id, ErrNotFound)
		}
		var err error
		ev, err = decodeStored(tx, v)
		return err
	})
	return seq, ev, err
}

// recordTime reads only the time of a stored record.
func recordTime(v []byte) (time.Time, error) {
	sealed, err := unpackRecord(v, nil)
	if err != nil {
		return time.Time{}, err
	}
	h, err := audit.DecodeHead(sealed)
	return h.Time, err
}

// seqRange turns [since, until) into the sequence range [lo, hi) by binary
// search over the time-ordered trail. A zero bound is open.
func seqRange(b *bolt.Bucket, since, until time.Time) (lo, hi uint64, err error) {
	c := b.Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 1, 1, nil
	}
	lo, hi = btoi(first), btoi(last)+1
	if !since.IsZero() {
		if lo, err = firstAtOrAfter(c, lo, hi, since); err != nil {
			return 0, 0, err
		}
	}
	if !until.IsZero() {
		if hi, err = firstAtOrAfter(c, lo, hi, until); err != nil {
			return 0, 0, err
		}
	}
	return lo, hi, nil
}

// firstAtOrAfter returns the smallest sequence in [lo, hi) whose record's
// time is not before t, or hi when there is none.
func firstAtOrAfter(c *bolt.Cursor, lo, hi uint64, t time.Time) (uint64, error) {
	for lo < hi {
		mid := lo + (hi-lo)/2
		k, v := c.Seek(itob(mid))
		if k == nil {
			hi = mid
			continue
		}
		rt, err := recordTime(v)
		if err != nil {
			return 0, fmt.Errorf("audit record %d: %w", btoi(k), err)
		}
		if rt.Before(t) {
			lo = btoi(k) + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}
