package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/audit"
)

// VerifyAudit walks the whole chain and returns the number of records
// checked, or an error wrapping audit.ErrChainBroken that names the first
// record that was altered, removed or inserted. It is VerifyAuditWith with
// no key and no witness.
func (d *DB) VerifyAudit(ctx context.Context) (int, error) {
	rep, err := d.VerifyAuditWith(ctx, audit.VerifyOptions{})
	return rep.Records, err
}

// VerifyAuditWith checks the trail and returns what it checked, or an error
// wrapping audit.ErrChainBroken naming the first thing found wrong.
//
// Without a key it proves that the records form one unbroken chain (each
// record's hash matches its content and links to its predecessor), from the
// retention checkpoint on; that the chain ends at the head the store keeps
// beside it and at the number of records the audit bucket says were
// written (so removing records from the end, or all of them, is found even
// with the head rewritten); and that every inbox event the engine finished
// processing still has its records (so a tail cut with the bucket's
// sequence rewritten too is found while the inbox holds its events). An
// editor who rewrites a record and recomputes every hash, head and sequence
// after it is not found without a key.
//
// With opts.PublicKey it also checks every checkpoint signed by that key
// (its signature, and that it names the hash the chain holds), so a
// recomputed chain is found, and that no more records follow the newest
// signed checkpoint than the signer promised, so removing the checkpoints
// of a recomputed stretch is found too. With opts.Witness, a checkpoint kept
// outside the file must be in the chain, so a cut tail or a wiped trail is
// found whatever else the editor rewrote.
//
// After retention has compacted old records away, the walk starts from the
// retention checkpoint: the first kept record must link to the hash it
// holds, and the newest retention checkpoint record in the trail must name
// the same sequence and hash, so the checkpoint cannot be moved to hide
// more.
func (d *DB) VerifyAuditWith(ctx context.Context, opts audit.VerifyOptions) (audit.VerifyReport, error) {
	if err := d.syncInbox(ctx); err != nil {
		return audit.VerifyReport{}, err
	}
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
	err := d.bolt.View(func(tx *boltTx) error {
		b := tx.Bucket(bucketAudit)
		prev := make([]byte, sha256.Size)
		var lastSeq uint64
		cp, err := readCheckpoint(tx)
		if err != nil {
			return err
		}
		if cp != nil {
			raw, err := hex.DecodeString(cp.RemovedHash)
			if err != nil || len(raw) != sha256.Size {
				return fmt.Errorf("checkpoint: bad hash %q: %w", cp.RemovedHash, audit.ErrChainBroken)
			}
			copy(prev, raw)
			lastSeq = cp.RemovedThrough
		}
		var confirmed *Checkpoint
		var signedAt uint64
		c := b.Cursor()
		var buf []byte
		for k, stored := c.First(); k != nil; k, stored = c.Next() {
			seq := btoi(k)
			v, err := unpackRecord(stored, buf)
			if err != nil {
				return fmt.Errorf("record %d: %w", seq, err)
			}
			if isPacked(stored) {
				buf = v
			}
			if len(v) < sha256.Size {
				return fmt.Errorf("record %d: truncated: %w", seq, audit.ErrChainBroken)
			}
			body := v[sha256.Size:]
			sum := sha256.Sum256(body)
			if !bytes.Equal(sum[:], v[:sha256.Size]) {
				return fmt.Errorf("record %d: content does not match its hash: %w", seq, audit.ErrChainBroken)
			}
			var r audit.Record
			if err := json.Unmarshal(body, &r); err != nil {
				return fmt.Errorf("record %d: %v: %w", seq, err, audit.ErrChainBroken)
			}
			if r.Seq != seq {
				return fmt.Errorf("record %d: claims sequence %d: %w", seq, r.Seq, audit.ErrChainBroken)
			}
			if seq != lastSeq+1 {
				return fmt.Errorf("record %d: records %d to %d are missing: %w", seq, lastSeq+1, seq-1, audit.ErrChainBroken)
			}
			if r.Prev != hex.EncodeToString(prev) {
				return fmt.Errorf("record %d: previous-hash link does not match record %d: %w", seq, lastSeq, audit.ErrChainBroken)
			}
			if h, ok := witness[seq]; ok {
				if h != hex.EncodeToString(sum[:]) {
					return fmt.Errorf("record %d: differs from the checkpoint the witness holds (the chain was rewritten): %w", seq, audit.ErrChainBroken)
				}
				rep.Witnessed++
			}
			if r.Kind == audit.KindCheckpoint {
				if r.Outcome == CheckpointSigned {
					sc, err := audit.SignedCheckpointOf(&r)
					if err != nil {
						return fmt.Errorf("record %d: %v: %w", seq, err, audit.ErrChainBroken)
					}
					if opts.PublicKey != nil {
						switch {
						case sc.KeyID != audit.KeyID(opts.PublicKey):
							rep.OtherKeys++
						case sc.Verify(opts.PublicKey) != nil:
							return fmt.Errorf("record %d: %w", seq, sc.Verify(opts.PublicKey))
						case sc.Seq != seq-1 || sc.Hash != r.Prev:
							return fmt.Errorf("record %d: the signed checkpoint names record %d with hash %.16s…, but the chain holds %.16s… there: the chain was rewritten: %w", seq, sc.Seq, sc.Hash, r.Prev, audit.ErrChainBroken)
						default:
							rep.Signed++
							rep.NewestSigned = &sc
							signedAt = seq
						}
					}
				} else {
					cr, err := checkpointFromRecord(&r)
					if err != nil {
						return fmt.Errorf("record %d: %v: %w", seq, err, audit.ErrChainBroken)
					}
					confirmed = &cr
				}
			}
			copy(prev, sum[:])
			lastSeq = seq
			rep.Records++
		}
		rep.Head = lastSeq
		if cp != nil && (confirmed == nil || confirmed.RemovedThrough != cp.RemovedThrough || confirmed.RemovedHash != cp.RemovedHash) {
			return fmt.Errorf("checkpoint at record %d is not the one the trail's newest checkpoint record names: %w", cp.RemovedThrough, audit.ErrChainBroken)
		}
		head := tx.Bucket(bucketMeta).Get(keyAuditHead)
		if lastSeq != 0 || head != nil {
			if len(head) != 8+sha256.Size || btoi(head[:8]) != lastSeq || !bytes.Equal(head[8:], prev) {
				var want uint64
				if len(head) >= 8 {
					want = btoi(head[:8])
				}
				return fmt.Errorf("record %d: trail ends at %d but the head says %d: %w", lastSeq+1, lastSeq, want, audit.ErrChainBroken)
			}
		}
		rep.Written = b.Sequence()
		switch {
		case rep.Written > lastSeq && lastSeq == 0:
			return fmt.Errorf("the trail is empty but %d records were written: every record was removed: %w", rep.Written, audit.ErrChainBroken)
		case rep.Written > lastSeq:
			return fmt.Errorf("records %d to %d are missing from the end: the trail ends at %d but %d records were written: %w", lastSeq+1, rep.Written, lastSeq, rep.Written, audit.ErrChainBroken)
		case rep.Written < lastSeq:
			return fmt.Errorf("record %d: the trail ends after the %d records the store says were written: %w", lastSeq, rep.Written, audit.ErrChainBroken)
		}
		if err := verifyInbox(tx, b, cp, &rep); err != nil {
			return err
		}
		if opts.PublicKey != nil {
			if err := verifyAnchored(lastSeq, signedAt, &rep); err != nil {
				return err
			}
		}
		if newestWitness != nil {
			w := newestWitness
			switch {
			case w.Seq > lastSeq:
				return fmt.Errorf("the witness holds a signed checkpoint of record %d (%s), but the trail ends at %d: records were cut from the end: %w", w.Seq, w.Time.Format(time.RFC3339), lastSeq, audit.ErrChainBroken)
			case cp != nil && w.Seq == cp.RemovedThrough:
				if w.Hash != cp.RemovedHash {
					return fmt.Errorf("the witness's checkpoint of record %d does not match the retention checkpoint: %w", w.Seq, audit.ErrChainBroken)
				}
			case cp != nil && w.Seq < cp.RemovedThrough:
				rep.Notes = append(rep.Notes, fmt.Sprintf("the witness's newest checkpoint (record %d) is older than what retention removed", w.Seq))
			}
		}
		return nil
	})
	return rep, err
}

// verifyAnchored checks, with a key, that the trail is covered by a signed
// checkpoint and that no more records follow the newest than it promised.
func verifyAnchored(lastSeq, signedAt uint64, rep *audit.VerifyReport) error {
	if lastSeq == 0 {
		return nil
	}
	if rep.NewestSigned == nil {
		return fmt.Errorf("no checkpoint in the trail is signed by this key: the %d records are not anchored (the checkpoints were removed, or the server never had the key): %w", rep.Records, audit.ErrChainBroken)
	}
	rep.Unsigned = lastSeq - signedAt
	if rep.Unsigned > uint64(rep.NewestSigned.Every) {
		return fmt.Errorf("records %d to %d follow the newest signed checkpoint (record %d), more than the %d it promises: the chain after it was rewritten or its checkpoints removed: %w",
			signedAt+1, lastSeq, signedAt, rep.NewestSigned.Every, audit.ErrChainBroken)
	}
	return nil
}

// verifyInbox checks that every inbox event the engine finished has at
// least one record left in the trail. Events received before the newest
// record retention removed are skipped: theirs may have gone with it.
func verifyInbox(tx *boltTx, trail *bolt.Bucket, cp *Checkpoint, rep *audit.VerifyReport) error {
	idx := indexBucket(tx, idxEvent)
	if idx == nil {
		rep.Notes = append(rep.Notes, "the file has no audit index (written by an older version): inbox events were not checked against the trail")
		return nil
	}
	pending := tx.Bucket(bucketPending)
	c := tx.Bucket(bucketInbox).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if pending.Get(k) != nil {
			continue // not processed yet: no records are due
		}
		var ev struct {
			ID         string    `json:"id"`
			ReceivedAt time.Time `json:"received_at"`
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("inbox event %d: %w", btoi(k), err)
		}
		if cp != nil && !ev.ReceivedAt.After(cp.Before) {
			continue
		}
		rep.InboxChecked++
		prefix := indexPrefix(ev.ID)
		found := false
		ic := idx.Cursor()
		for ik, _ := ic.Seek(prefix); ik != nil && bytes.HasPrefix(ik, prefix) && len(ik) == len(prefix)+8; ik, _ = ic.Next() {
			if trail.Get(ik[len(prefix):]) != nil {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("inbox event %q (#%d) was processed, but the trail holds none of its records: records were removed: %w", ev.ID, btoi(k), audit.ErrChainBroken)
		}
	}
	return nil
}
