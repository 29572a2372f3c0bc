package etcd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

// compactChunk bounds the records one compaction transaction removes
// (they go by one range delete; what bounds the chunk is reading them).
const compactChunk = 1000

// inboxChunk bounds the inbox events one compaction transaction removes
// (each costs a few operations of etcd's 128, more with what ForgetEvent
// deletes); a chunk too large for one transaction goes one by one.
const inboxChunk = 8

// checkpointReserve is room kept for the checkpoint record when trimming
// to MaxBytes.
const checkpointReserve = 1024

// AuditCheckpoint returns the newest retention checkpoint, or nil when
// nothing was ever compacted away.
func (s *Store) AuditCheckpoint(ctx context.Context) (*store.Checkpoint, error) {
	return s.snapshot(ctx).checkpoint()
}

func (n *snap) checkpoint() (*store.Checkpoint, error) {
	resp, err := n.get(n.s.key(keyCheckpoint))
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoint: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	var cp store.Checkpoint
	if err := json.Unmarshal(resp.Kvs[0].Value, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint: %v: %w", err, audit.ErrChainBroken)
	}
	return &cp, nil
}

// Compact applies the retention policy as the bbolt store does: old audit
// records leave from the start of the trail, each chunk's transaction
// recording a checkpoint (meta/audit_checkpoint) and appending an
// audit.checkpoint record naming the same sequence and hash, so that the
// rest of the chain stays verifiable; finished inbox events older than
// InboxMaxAge leave with their idempotency keys; pending events stay. Run
// it on the leader.
func (s *Store) Compact(ctx context.Context, r store.Retention) (store.CompactResult, error) {
	var res store.CompactResult
	for r.MaxAge > 0 || r.MaxRecords > 0 || r.MaxBytes > 0 {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n, err := s.compactAuditChunk(ctx, r)
		if err != nil {
			return res, err
		}
		res.AuditRemoved += n
		if n < compactChunk {
			break
		}
	}
	if r.InboxMaxAge > 0 {
		n, err := s.compactInbox(ctx, s.now().Add(-r.InboxMaxAge), r.ForgetEvent)
		res.InboxRemoved = n
		if err != nil {
			return res, err
		}
	}
	if r.Sweep != nil {
		err := s.Update(ctx, func(tx state.Tx) error {
			n, err := r.Sweep(tx)
			res.Swept = n
			return err
		})
		if err != nil {
			return res, fmt.Errorf("retention sweep: %w", err)
		}
	}
	cp, err := s.AuditCheckpoint(ctx)
	res.Checkpoint = cp
	return res, err
}

type unindexed struct {
	eventID, playbook string
	seq               uint64
}

func (s *Store) compactAuditChunk(ctx context.Context, r store.Retention) (int, error) {
	h, err := s.readHead(ctx)
	if err != nil {
		return 0, err
	}
	removed := 0
	var gone []unindexed
	err = s.Update(ctx, func(stx state.Tx) error {
		tx := stx.(*Tx)
		removed, gone = 0, gone[:0]
		cp := &store.Checkpoint{}
		if raw, ok := tx.rawGet(s.key(keyCheckpoint)); ok {
			if err := json.Unmarshal(raw, cp); err != nil {
				return fmt.Errorf("checkpoint: %v: %w", err, audit.ErrChainBroken)
			}
		}
		first := cp.RemovedThrough + 1
		if h.Seq < first {
			return nil
		}
		total := int(h.Seq - cp.RemovedThrough)
		overCap := r.MaxRecords > 0 && total > r.MaxRecords
		overSize := r.MaxBytes > 0 && h.Bytes > r.MaxBytes
		var cutoff time.Time
		if r.MaxAge > 0 {
			cutoff = tx.Now().Add(-r.MaxAge)
		}
		// The oldest records, a bounded range: appends never touch it.
		last := min(h.Seq, first+compactChunk-1)
		recs := tx.scanRange(s.key(auditName(first)), s.key(auditName(last+1)))
		var removedBytes int64
		var lastRec audit.Record
		var lastSum []byte
		for _, kv := range recs {
			q, _ := parseSeqKey(kv.key, s.key(dirAudit))
			rec, err := store.DecodeRecord(q, kv.val)
			if err != nil {
				return err
			}
			byCount := overCap && total-removed >= r.MaxRecords
			byAge := !cutoff.IsZero() && rec.Time.Before(cutoff)
			bySize := overSize && h.Bytes-removedBytes+checkpointReserve > r.MaxBytes
			if !byCount && !byAge && !bySize {
				break
			}
			removedBytes += int64(len(kv.val))
			sum := sha256.Sum256(kv.val[sha256.Size:])
			lastSum, lastRec = sum[:], rec
			gone = append(gone, unindexed{rec.EventID, rec.Playbook, q})
			removed++
		}
		if removed == 0 {
			return nil
		}
		tx.own.rawDeletes = append(tx.own.rawDeletes, [2]string{s.key(auditName(first)), s.key(auditName(lastRec.Seq + 1))})
		tx.own.auditBytes -= removedBytes
		next := store.Checkpoint{
			RemovedThrough: lastRec.Seq,
			RemovedHash:    hex.EncodeToString(lastSum),
			Removed:        cp.Removed + uint64(removed),
			Before:         lastRec.Time,
		}
		raw, err := json.Marshal(next)
		if err != nil {
			return err
		}
		tx.rawPut(s.key(keyCheckpoint), raw)
		return tx.Audit(audit.Record{
			Kind:    audit.KindCheckpoint,
			Outcome: store.CheckpointCompacted,
			Message: fmt.Sprintf("retention removed %d record(s) through %d", removed, lastRec.Seq),
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
	// The index entries of removed records go after: a query skips an
	// entry whose record is gone, so they need not go atomically.
	s.unindex(ctx, gone)
	return removed, nil
}

func (s *Store) unindex(ctx context.Context, gone []unindexed) {
	var ops []clientv3.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		tctx, cancel := s.reqCtx(ctx)
		if _, err := s.cli.Txn(tctx).Then(ops...).Commit(); err != nil {
			s.log.Warn("removing audit index entries of compacted records failed; queries skip them", "error", err)
		}
		cancel()
		ops = ops[:0]
	}
	for _, g := range gone {
		if g.eventID != "" {
			ops = append(ops, clientv3.OpDelete(s.indexPrefix(idxEvent, g.eventID)+seqName(g.seq)))
		}
		if g.playbook != "" {
			ops = append(ops, clientv3.OpDelete(s.indexPrefix(idxPlaybook, g.playbook)+seqName(g.seq)))
		}
		if len(ops) >= maxTxnOps-2 {
			flush()
		}
	}
	flush()
}

// compactInbox removes the finished events received before cutoff, with
// their idempotency keys, inboxChunk per transaction.
func (s *Store) compactInbox(ctx context.Context, cutoff time.Time, forget func(state.Tx, string) error) (int, error) {
	type dead struct {
		seq uint64
		id  string
	}
	removed := 0
	n := s.snapshot(ctx)
	from, end := s.key(dirInbox), clientv3.GetPrefixRangeEnd(s.key(dirInbox))
	for {
		resp, err := n.get(from, clientv3.WithRange(end), clientv3.WithLimit(listPage))
		if err != nil {
			return removed, fmt.Errorf("compact inbox: %w", err)
		}
		var batch []dead
		next := "" // where to read from next, when not after the page
		for _, kv := range resp.Kvs {
			q, _ := parseSeqKey(string(kv.Key), s.key(dirInbox))
			var ev struct {
				ID         string    `json:"id"`
				ReceivedAt time.Time `json:"received_at"`
			}
			if err := json.Unmarshal(kv.Value, &ev); err != nil {
				return removed, fmt.Errorf("compact inbox: event %d: %w", q, err)
			}
			if !ev.ReceivedAt.Before(cutoff) {
				// A block is in arrival order, the blocks of
				// different replicas are not: go on at the next block.
				next = s.key(dirInbox + seqName(blockEnd(q)+1))
				break
			}
			batch = append(batch, dead{q, ev.ID})
		}
		size := inboxChunk
		for len(batch) > 0 {
			chunk := batch[:min(len(batch), size)]
			got := 0
			err := s.Update(ctx, func(stx state.Tx) error {
				tx := stx.(*Tx)
				got = 0
				for _, d := range chunk {
					if _, pending := tx.rawGet(s.key(dirPending + seqName(d.seq))); pending {
						continue // never drop an event that was not processed
					}
					if v, ok := tx.rawGet(s.key(dirSeen + d.id)); ok && string(v) == strconv.FormatUint(d.seq, 10) {
						tx.own.put(s.key(dirSeen+d.id), write{del: true})
					}
					if forget != nil {
						if err := forget(tx, d.id); err != nil {
							return err
						}
					}
					tx.own.put(s.key(dirInbox+seqName(d.seq)), write{del: true})
					got++
				}
				return nil
			})
			if errors.Is(err, ErrTxnTooLarge) && size > 1 {
				size = 1
				continue
			}
			if err != nil {
				return removed, fmt.Errorf("compact inbox: %w", err)
			}
			batch = batch[len(chunk):]
			removed += got
		}
		switch {
		case next != "":
			from = next
		case !resp.More || len(resp.Kvs) == 0:
			return removed, nil
		default:
			from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
	}
}
