package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/audit"
)

// The audit index: bucketAuditIdx holds one nested bucket per indexed field
// (the event id, the playbook), whose keys are value ‖ 0x00 ‖ seq (8 bytes,
// big-endian), so one field value's records are a contiguous,
// sequence-ordered key range.
//
// An entry covers the records of one field value written in one
// transaction: its key carries the first one's sequence, and its value
// lists them all as uvarints, each the difference from the key's
// sequence (the first is 0). An event's three or four records thus take
// one or two keys instead of one each: with event ids that are hashes,
// each key lands on a leaf of its own, so the keys were most of the bytes
// a processed event kept beside its packed records. Entries never
// interleave: a later transaction's sequences are all greater. Entries
// written before this format have an empty value and cover their key's
// sequence alone; both are read alike, and neither is rewritten.
var (
	bucketAuditIdx = []byte("audit_idx")
	idxEvent       = []byte("event")
	idxPlaybook    = []byte("playbook")
	keyIndexed     = []byte("audit_indexed") // meta: the index covers every record
)

func indexPrefix(value string) []byte {
	p := make([]byte, 0, len(value)+9)
	p = append(p, value...)
	return append(p, 0)
}

func indexKey(value string, seq uint64) []byte {
	return append(indexPrefix(value), itob(seq)...)
}

// indexBucket returns the nested index bucket, or nil in a file written
// before the index existed (the caller then scans).
func indexBucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	root := tx.Bucket(bucketAuditIdx)
	if root == nil || tx.Bucket(bucketMeta).Get(keyIndexed) == nil {
		return nil
	}
	return root.Bucket(name)
}

func writableIndex(tx *bolt.Tx) (ev, pb *bolt.Bucket, err error) {
	root, err := tx.CreateBucketIfNotExists(bucketAuditIdx)
	if err != nil {
		return nil, nil, err
	}
	if ev, err = root.CreateBucketIfNotExists(idxEvent); err != nil {
		return nil, nil, err
	}
	if pb, err = root.CreateBucketIfNotExists(idxPlaybook); err != nil {
		return nil, nil, err
	}
	return ev, pb, nil
}

// indexAudit adds rec to the event and playbook indexes, in the entry
// this transaction holds for its event id (playbook), or a new one.
func (t *Tx) indexAudit(rec *audit.Record) error {
	if rec.EventID == "" && rec.Playbook == "" {
		return nil
	}
	ev, pb, err := writableIndex(t.tx)
	if err != nil {
		return err
	}
	if rec.EventID != "" {
		if err := t.addIndex(ev, idxEvent, rec.EventID, rec.Seq); err != nil {
			return err
		}
	}
	if rec.Playbook != "" {
		// A playbook's keys only grow: filled pages are never split
		// half-empty (the default fill) and left so.
		pb.FillPercent = appendFill
		if err := t.addIndex(pb, idxPlaybook, rec.Playbook, rec.Seq); err != nil {
			return err
		}
	}
	return nil
}

// indexed names one field value of one index, for Tx.entries.
type indexed struct {
	index string
	value string
}

// addIndex records seq under value in b: in the entry this transaction
// started for value, or in a new one keyed by seq.
func (t *Tx) addIndex(b *bolt.Bucket, index []byte, value string, seq uint64) error {
	at := indexed{string(index), value}
	if first, ok := t.entries[at]; ok {
		key := indexKey(value, first)
		if old := b.Get(key); len(old) > 0 && seq > first {
			return b.Put(key, binary.AppendUvarint(append(make([]byte, 0, len(old)+3), old...), seq-first))
		}
	}
	if t.entries == nil {
		t.entries = map[indexed]uint64{}
	}
	t.entries[at] = seq
	return b.Put(indexKey(value, seq), []byte{0})
}

// entrySeqs appends to out the sequences an index entry covers: its key's
// alone for an entry of the earlier format (an empty value). A value
// that does not decode is read up to where it stops decoding.
func entrySeqs(out []uint64, first uint64, v []byte) []uint64 {
	if len(v) == 0 {
		return append(out, first)
	}
	for len(v) > 0 {
		d, n := binary.Uvarint(v)
		if n <= 0 {
			break
		}
		out = append(out, first+d)
		v = v[n:]
	}
	return out
}

// scanIndex calls visit, in order, with each sequence in [lo, hi) that b
// indexes under prefix (indexPrefix of a value), until visit returns
// false or an error.
func scanIndex(b *bolt.Bucket, prefix []byte, lo, hi uint64, visit func(seq uint64) (bool, error)) error {
	c := b.Cursor()
	target := append(prefix[:len(prefix):len(prefix)], itob(lo)...)
	// The entry at or before lo's place may cover sequences from lo on;
	// without one, the first entry after it.
	k, v := coveringEntry(c, prefix, target)
	if k == nil {
		k, v = c.Seek(target)
	}
	var seqs []uint64
	for ; inIndexRange(k, prefix); k, v = c.Next() {
		seqs = entrySeqs(seqs[:0], btoi(k[len(prefix):]), v)
		for _, seq := range seqs {
			if seq < lo {
				continue
			}
			if seq >= hi {
				return nil
			}
			if more, err := visit(seq); err != nil || !more {
				return err
			}
		}
	}
	return nil
}

// inIndexRange reports whether k is an entry key of the value whose
// indexPrefix is prefix.
func inIndexRange(k, prefix []byte) bool {
	return k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8
}

// coveringEntry positions c on the entry of prefix's value with the
// greatest key at or below target (prefix ‖ seq), the only one that can
// cover seq, and returns it; nil when the value has none there.
func coveringEntry(c *bolt.Cursor, prefix, target []byte) (k, v []byte) {
	k, v = c.Seek(target)
	if bytes.Equal(k, target) {
		return k, v
	}
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if !inIndexRange(k, prefix) {
		return nil, nil
	}
	return k, v
}

// unindexAudit removes rec from the indexes (compaction).
func unindexAudit(tx *bolt.Tx, rec *audit.Record) error {
	root := tx.Bucket(bucketAuditIdx)
	if root == nil {
		return nil
	}
	if b := root.Bucket(idxEvent); b != nil && rec.EventID != "" {
		if err := removeIndex(b, rec.EventID, rec.Seq); err != nil {
			return err
		}
	}
	if b := root.Bucket(idxPlaybook); b != nil && rec.Playbook != "" {
		if err := removeIndex(b, rec.Playbook, rec.Seq); err != nil {
			return err
		}
	}
	return nil
}

// removeIndex takes seq out of the entry of value that covers it: the
// entry keyed by seq, or the one before its place. An entry left covering
// nothing is deleted; one that still covers some keeps its key (its
// sequence stays the base of the differences).
func removeIndex(b *bolt.Bucket, value string, seq uint64) error {
	prefix := indexPrefix(value)
	k, v := coveringEntry(b.Cursor(), prefix, indexKey(value, seq))
	if k == nil {
		return nil // not indexed
	}
	first := btoi(k[len(prefix):])
	seqs := entrySeqs(nil, first, v)
	keep := seqs[:0]
	for _, s := range seqs {
		if s != seq {
			keep = append(keep, s)
		}
	}
	if len(keep) == len(seqs) {
		return nil // not in this entry
	}
	k = append([]byte(nil), k...)
	if len(keep) == 0 {
		return b.Delete(k)
	}
	nv := make([]byte, 0, len(v))
	for _, s := range keep {
		nv = binary.AppendUvarint(nv, s-first)
	}
	return b.Put(k, nv)
}

// ensureAuditIndex builds the index over the records of a file written
// before it existed, once, when the store is opened for writing.
func ensureAuditIndex(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyAuditBytes) == nil {
		var total uint64
		if err := tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error { total += uint64(len(v)); return nil }); err != nil {
			return err
		}
		if err := meta.Put(keyAuditBytes, itob(total)); err != nil {
			return err
		}
	}
	if meta.Get(keyIndexed) != nil {
		return nil
	}
	ev, pb, err := writableIndex(tx)
	if err != nil {
		return err
	}
	var newest uint64
	err = tx.Bucket(bucketAudit).ForEach(func(k, stored []byte) error {
		var r struct {
			EventID  string `json:"event_id"`
			Playbook string `json:"playbook"`
		}
		v, err := unpackRecord(stored, nil)
		if err != nil {
			return fmt.Errorf("record %d: %w", btoi(k), err)
		}
		if len(v) > 32 {
			_ = json.Unmarshal(v[32:], &r)
		}
		seq := btoi(k)
		if t, err := recordTime(v); err == nil && uint64(t.UnixNano()) > newest {
			newest = uint64(t.UnixNano())
		}
		if r.EventID != "" {
			if err := ev.Put(indexKey(r.EventID, seq), nil); err != nil {
				return err
			}
		}
		if r.Playbook != "" {
			return pb.Put(indexKey(r.Playbook, seq), nil)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index audit trail: %w", err)
	}
	if newest > 0 && meta.Get(keyAuditTime) == nil {
		if err := meta.Put(keyAuditTime, itob(newest)); err != nil {
			return err
		}
	}
	return meta.Put(keyIndexed, []byte{1})
}
