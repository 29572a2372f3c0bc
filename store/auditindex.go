package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/audit"
)

// The audit index: bucketAuditIdx holds one nested bucket per indexed field,
// whose keys are value ‖ 0x00 ‖ seq (8 bytes, big-endian) with empty values,
// so one field value's records are a contiguous, sequence-ordered key range.
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

// indexAudit adds rec to the event and playbook indexes.
func indexAudit(tx *bolt.Tx, rec *audit.Record) error {
	if rec.EventID == "" && rec.Playbook == "" {
		return nil
	}
	ev, pb, err := writableIndex(tx)
	if err != nil {
		return err
	}
	if rec.EventID != "" {
		if err := ev.Put(indexKey(rec.EventID, rec.Seq), nil); err != nil {
			return err
		}
	}
	if rec.Playbook != "" {
		// A playbook's keys only grow: filled pages are never split
		// half-empty (the default fill) and left so.
		pb.FillPercent = appendFill
		if err := pb.Put(indexKey(rec.Playbook, rec.Seq), nil); err != nil {
			return err
		}
	}
	return nil
}

// unindexAudit removes rec from the indexes (compaction).
func unindexAudit(tx *bolt.Tx, rec *audit.Record) error {
	root := tx.Bucket(bucketAuditIdx)
	if root == nil {
		return nil
	}
	if b := root.Bucket(idxEvent); b != nil && rec.EventID != "" {
		if err := b.Delete(indexKey(rec.EventID, rec.Seq)); err != nil {
			return err
		}
	}
	if b := root.Bucket(idxPlaybook); b != nil && rec.Playbook != "" {
		if err := b.Delete(indexKey(rec.Playbook, rec.Seq)); err != nil {
			return err
		}
	}
	return nil
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
