package etcd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/store"
)

var _ store.Backend = (*Store)(nil)

// VerifyAudit walks the whole chain and returns the number of records
// checked, or an error wrapping audit.ErrChainBroken naming the first
// record altered, removed or inserted. It is VerifyAuditWith with no key
// and no witness.
func (s *Store) VerifyAudit(ctx context.Context) (int, error) {
	rep, err := s.VerifyAuditWith(ctx, audit.VerifyOptions{})
	return rep.Records, err
}

// VerifyAuditWith makes the bbolt store's checks (store.DB.VerifyAuditWith)
// on the cluster's trail, read at one revision: each record's hash
// matches its content and links to its predecessor, from the retention
// checkpoint on; the chain ends at the head; every finished inbox event
// still has records; with a key, every checkpoint it signed is checked and
// no more records follow the newest than it promised; with witness
// checkpoints, each must be in the chain. The head's sequence is the
// number of records written.
func (s *Store) VerifyAuditWith(ctx context.Context, opts audit.VerifyOptions) (audit.VerifyReport, error) {
	var rep audit.VerifyReport
	witness := map[uint64]string{}
	var newestWitness *audit.SignedCheckpoint
	if len(opts.Witness) > 0 && opts.PublicKey == nil {
		return rep, fmt.Errorf("verify audit: witness checkpoints need the public key")
	}
	for i := range opts.Witness {
		w := opts.Witness[i]
		if err := w.Verify(opts.PublicKey); err != nil {
			return rep, fmt.Errorf("witness: %w", err)
		}
		witness[w.Seq] = w.Hash
		if newestWitness == nil || w.Seq > newestWitness.Seq {
			newestWitness = &w
		}
	}
	n := s.snapshot(ctx)
	hresp, err := n.get(s.key(keyAuditHead)) // fixes the revision
	if err != nil {
		return rep, fmt.Errorf("verify audit: %w", err)
	}
	head, err := decodeHead(hresp.Kvs)
	if err != nil {
		return rep, err
	}
	cp, err := n.checkpoint()
	if err != nil {
		return rep, err
	}
	prev := make([]byte, sha256.Size)
	var lastSeq uint64
	if cp != nil {
		raw, err := hex.DecodeString(cp.RemovedHash)
		if err != nil || len(raw) != sha256.Size {
			return rep, fmt.Errorf("checkpoint: bad hash %q: %w", cp.RemovedHash, audit.ErrChainBroken)
		}
		copy(prev, raw)
		lastSeq = cp.RemovedThrough
	}
	var confirmed *store.Checkpoint
	var signedAt uint64
	firstKept := uint64(0)
	from, end := s.auditFirst(), s.auditEnd()
	for {
		resp, err := n.get(from, clientv3.WithRange(end), clientv3.WithLimit(listPage))
		if err != nil {
			return rep, fmt.Errorf("verify audit: %w", err)
		}
		for _, kv := range resp.Kvs {
			seq, ok := parseSeqKey(string(kv.Key), s.key(dirAudit))
			if !ok {
				return rep, fmt.Errorf("key %q in the trail: %w", kv.Key, audit.ErrChainBroken)
			}
			v := kv.Value
			if len(v) < sha256.Size {
				return rep, fmt.Errorf("record %d: truncated: %w", seq, audit.ErrChainBroken)
			}
			body := v[sha256.Size:]
			sum := sha256.Sum256(body)
			if !bytes.Equal(sum[:], v[:sha256.Size]) {
				return rep, fmt.Errorf("record %d: content does not match its hash: %w", seq, audit.ErrChainBroken)
			}
			var r audit.Record
			if err := json.Unmarshal(body, &r); err != nil {
				return rep, fmt.Errorf("record %d: %v: %w", seq, err, audit.ErrChainBroken)
			}
			if r.Seq != seq {
				return rep, fmt.Errorf("record %d: claims sequence %d: %w", seq, r.Seq, audit.ErrChainBroken)
			}
			if seq != lastSeq+1 {
				return rep, fmt.Errorf("record %d: records %d to %d are missing: %w", seq, lastSeq+1, seq-1, audit.ErrChainBroken)
			}
			if r.Prev != hex.EncodeToString(prev) {
				return rep, fmt.Errorf("record %d: previous-hash link does not match record %d: %w", seq, lastSeq, audit.ErrChainBroken)
			}
			if h, ok := witness[seq]; ok {
				if h != hex.EncodeToString(sum[:]) {
					return rep, fmt.Errorf("record %d: differs from the checkpoint the witness holds (the chain was rewritten): %w", seq, audit.ErrChainBroken)
				}
				rep.Witnessed++
			}
			if r.Kind == audit.KindCheckpoint {
				if r.Outcome == store.CheckpointSigned {
					sc, err := audit.SignedCheckpointOf(&r)
					if err != nil {
						return rep, fmt.Errorf("record %d: %v: %w", seq, err, audit.ErrChainBroken)
					}
					if opts.PublicKey != nil {
						switch {
						case sc.KeyID != audit.KeyID(opts.PublicKey):
							rep.OtherKeys++
						case sc.Verify(opts.PublicKey) != nil:
							return rep, fmt.Errorf("record %d: %w", seq, sc.Verify(opts.PublicKey))
						case sc.Seq != seq-1 || sc.Hash != r.Prev:
							return rep, fmt.Errorf("record %d: the signed checkpoint names record %d with hash %.16s…, but the chain holds %.16s… there: the chain was rewritten: %w", seq, sc.Seq, sc.Hash, r.Prev, audit.ErrChainBroken)
						default:
							rep.Signed++
							rep.NewestSigned = &sc
							signedAt = seq
						}
					}
				} else {
					cr, err := checkpointFromRecord(&r)
					if err != nil {
						return rep, fmt.Errorf("record %d: %v: %w", seq, err, audit.ErrChainBroken)
					}
					confirmed = &cr
				}
			}
			if firstKept == 0 {
				firstKept = seq
			}
			copy(prev, sum[:])
			lastSeq = seq
			rep.Records++
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	rep.Head = lastSeq
	if cp != nil && (confirmed == nil || confirmed.RemovedThrough != cp.RemovedThrough || confirmed.RemovedHash != cp.RemovedHash) {
		return rep, fmt.Errorf("checkpoint at record %d is not the one the trail's newest checkpoint record names: %w", cp.RemovedThrough, audit.ErrChainBroken)
	}
	if lastSeq != 0 || len(hresp.Kvs) > 0 {
		if head.Seq != lastSeq || head.Hash != hex.EncodeToString(prev) {
			return rep, fmt.Errorf("record %d: trail ends at %d but the head says %d: %w", lastSeq+1, lastSeq, head.Seq, audit.ErrChainBroken)
		}
	}
	rep.Written = head.Seq
	if err := s.verifyInbox(n, cp, firstKept, lastSeq, &rep); err != nil {
		return rep, err
	}
	if opts.PublicKey != nil && lastSeq != 0 {
		if rep.NewestSigned == nil {
			return rep, fmt.Errorf("no checkpoint in the trail is signed by this key: the %d records are not anchored (the checkpoints were removed, or the server never had the key): %w", rep.Records, audit.ErrChainBroken)
		}
		rep.Unsigned = lastSeq - signedAt
		if rep.Unsigned > uint64(rep.NewestSigned.Every) {
			return rep, fmt.Errorf("records %d to %d follow the newest signed checkpoint (record %d), more than the %d it promises: the chain after it was rewritten or its checkpoints removed: %w",
				signedAt+1, lastSeq, signedAt, rep.NewestSigned.Every, audit.ErrChainBroken)
		}
	}
	if newestWitness != nil {
		w := newestWitness
		switch {
		case w.Seq > lastSeq:
			return rep, fmt.Errorf("the witness holds a signed checkpoint of record %d (%s), but the trail ends at %d: records were cut from the end: %w", w.Seq, w.Time.Format(time.RFC3339), lastSeq, audit.ErrChainBroken)
		case cp != nil && w.Seq == cp.RemovedThrough:
			if w.Hash != cp.RemovedHash {
				return rep, fmt.Errorf("the witness's checkpoint of record %d does not match the retention checkpoint: %w", w.Seq, audit.ErrChainBroken)
			}
		case cp != nil && w.Seq < cp.RemovedThrough:
			rep.Notes = append(rep.Notes, fmt.Sprintf("the witness's newest checkpoint (record %d) is older than what retention removed", w.Seq))
		}
	}
	return rep, nil
}

func checkpointFromRecord(r *audit.Record) (store.Checkpoint, error) {
	b, err := json.Marshal(r.Data)
	if err != nil {
		return store.Checkpoint{}, err
	}
	var cp store.Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return store.Checkpoint{}, fmt.Errorf("checkpoint data: %w", err)
	}
	return cp, nil
}

// verifyInbox checks that every finished inbox event received after the
// retention checkpoint has at least one record in the verified stretch of
// the trail [firstKept, lastSeq].
func (s *Store) verifyInbox(n *snap, cp *store.Checkpoint, firstKept, lastSeq uint64, rep *audit.VerifyReport) error {
	pending := map[string]bool{}
	if err := n.each(s.key(dirPending), true, func(k string, _ []byte) error {
		pending[k[len(s.key(dirPending)):]] = true
		return nil
	}); err != nil {
		return err
	}
	// The event index: which events have a kept record.
	has := map[string]bool{}
	ip := s.key(dirAuditIdx + idxEvent)
	if err := n.each(ip, true, func(k string, _ []byte) error {
		if len(k) < len(ip)+21 {
			return nil
		}
		q, ok := parseSeqKey(k, ip)
		if ok && firstKept != 0 && q >= firstKept && q <= lastSeq {
			has[k[len(ip):len(k)-21]] = true
		}
		return nil
	}); err != nil {
		return err
	}
	return n.each(s.key(dirInbox), false, func(k string, v []byte) error {
		name := k[len(s.key(dirInbox)):]
		if pending[name] {
			return nil // not processed yet: no records are due
		}
		var ev struct {
			ID         string    `json:"id"`
			ReceivedAt time.Time `json:"received_at"`
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("inbox event %s: %w", name, err)
		}
		if cp != nil && !ev.ReceivedAt.After(cp.Before) {
			return nil
		}
		rep.InboxChecked++
		if !has[ev.ID] {
			return fmt.Errorf("inbox event %q (#%s) was processed, but the trail holds none of its records: records were removed: %w", ev.ID, name, audit.ErrChainBroken)
		}
		return nil
	})
}

// each visits every key under prefix at the snapshot, in pages.
func (n *snap) each(prefix string, keysOnly bool, fn func(k string, v []byte) error) error {
	from, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(1000)}
		if keysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		resp, err := n.get(from, opts...)
		if err != nil {
			return fmt.Errorf("read %s: %w", prefix[len(n.s.prefix):], err)
		}
		for _, kv := range resp.Kvs {
			if err := fn(string(kv.Key), kv.Value); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
