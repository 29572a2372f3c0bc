package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

// snap reads keys at one revision, so that a query sees one state of the
// cluster however many reads it takes.
type snap struct {
	s   *Store
	ctx context.Context
	rev int64
}

func (s *Store) snapshot(ctx context.Context) *snap { return &snap{s: s, ctx: ctx} }

func (n *snap) get(k string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := n.s.reqCtx(n.ctx)
	defer cancel()
	if n.rev != 0 {
		opts = append(opts, clientv3.WithRev(n.rev))
	}
	resp, err := n.s.cli.Get(ctx, k, opts...)
	if err != nil {
		return nil, err
	}
	if n.rev == 0 {
		n.rev = resp.Header.Revision
	}
	return resp, nil
}

// records fetches the stored records of seqs (missing ones are skipped:
// compacted away after their index entry was read).
func (n *snap) records(seqs []uint64) (map[uint64][]byte, error) {
	out := make(map[uint64][]byte, len(seqs))
	for len(seqs) > 0 {
		k := min(len(seqs), 100)
		ops := make([]clientv3.Op, k)
		for i, q := range seqs[:k] {
			ops[i] = clientv3.OpGet(n.s.key(auditName(q)), clientv3.WithRev(n.rev))
		}
		ctx, cancel := n.s.reqCtx(n.ctx)
		resp, err := n.s.cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("read audit records: %w", err)
		}
		for i, r := range resp.Responses {
			if kvs := r.GetResponseRange().Kvs; len(kvs) > 0 {
				out[seqs[i]] = kvs[0].Value
			}
		}
		seqs = seqs[k:]
	}
	return out, nil
}

// firstKey returns the sequence of the first record at or after seq, or
// 0 when there is none.
func (n *snap) firstAtOrAfterSeq(seq uint64) (uint64, []byte, error) {
	resp, err := n.get(n.s.key(auditName(seq)), clientv3.WithRange(n.s.auditEnd()), clientv3.WithLimit(1))
	if err != nil {
		return 0, nil, fmt.Errorf("read audit trail: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, nil, nil
	}
	q, _ := parseSeqKey(string(resp.Kvs[0].Key), n.s.key(dirAudit))
	return q, resp.Kvs[0].Value, nil
}

// seqRange turns [since, until) into the sequence range [lo, hi) by
// binary search over the time-ordered trail.
func (n *snap) seqRange(since, until time.Time) (lo, hi uint64, err error) {
	first, _, err := n.firstAtOrAfterSeq(0)
	if err != nil || first == 0 {
		return 1, 1, err
	}
	resp, err := n.get(n.s.key(keyAuditHead))
	if err != nil {
		return 0, 0, fmt.Errorf("read audit head: %w", err)
	}
	h, err := decodeHead(resp.Kvs)
	if err != nil {
		return 0, 0, err
	}
	lo, hi = first, h.Seq+1
	search := func(lo, hi uint64, t time.Time) (uint64, error) {
		for lo < hi {
			mid := lo + (hi-lo)/2
			q, v, err := n.firstAtOrAfterSeq(mid)
			if err != nil {
				return 0, err
			}
			if q == 0 || q >= hi {
				hi = mid
				continue
			}
			rt, err := recordTime(v)
			if err != nil {
				return 0, fmt.Errorf("audit record %d: %w", q, err)
			}
			if rt.Before(t) {
				lo = q + 1
			} else {
				hi = mid
			}
		}
		return lo, nil
	}
	if !since.IsZero() {
		if lo, err = search(lo, hi, since); err != nil {
			return 0, 0, err
		}
	}
	if !until.IsZero() {
		if hi, err = search(lo, hi, until); err != nil {
			return 0, 0, err
		}
	}
	return lo, hi, nil
}

// recordTime reads only the time of a stored record.
func recordTime(v []byte) (time.Time, error) {
	h, err := audit.DecodeHead(v)
	return h.Time, err
}

// listPage is how many keys one read of a query takes.
const listPage = 256

// ListAudit returns the records matching q in sequence order, and the
// cursor for the next page (0 when there is none), with the semantics of
// the bbolt store's: the time range becomes a sequence range by binary
// search, and an event id or a playbook is looked up in its index.
func (s *Store) ListAudit(ctx context.Context, q audit.Query) ([]audit.Record, uint64, error) {
	p := store.NewRecordPage(q)
	err := s.scanAudit(ctx, p.Query(), p.Visit)
	out, next := p.Result()
	return out, next, err
}

// AuditHeads is ListAudit returning only each record's sequence, time and
// kind, with the same filters, order and paging, as the bbolt store's: a
// query that filters on the time range and the kind only reads no more of
// a record than the front of its JSON (audit.DecodeHead); one that filters
// on another field decodes the records as ListAudit does.
func (s *Store) AuditHeads(ctx context.Context, q audit.Query) ([]audit.Head, uint64, error) {
	p := store.NewHeadPage(q)
	err := s.scanAudit(ctx, p.Query(), p.Visit)
	out, next := p.Result()
	return out, next, err
}

// scanAudit calls visit, in sequence order and at one revision, with the
// stored value of each record that may match q (a time range becomes a
// sequence range, an event id or a playbook is looked up in its index;
// After bounds the sequence), until visit returns false or an error.
func (s *Store) scanAudit(ctx context.Context, q audit.Query, visit func(seq uint64, v []byte) (bool, error)) error {
	n := s.snapshot(ctx)
	lo, hi, err := n.seqRange(q.Since, q.Until)
	if err != nil {
		return err
	}
	lo = max(lo, q.After+1)
	if lo >= hi {
		return nil
	}
	var prefix string
	switch {
	case q.EventID != "":
		prefix = s.indexPrefix(idxEvent, q.EventID)
	case q.Playbook != "":
		prefix = s.indexPrefix(idxPlaybook, q.Playbook)
	}
	if prefix != "" {
		end := clientv3.GetPrefixRangeEnd(prefix)
		from := prefix + seqName(lo)
		for {
			resp, err := n.get(from, clientv3.WithRange(end), clientv3.WithLimit(listPage), clientv3.WithKeysOnly())
			if err != nil {
				return fmt.Errorf("read audit index: %w", err)
			}
			var seqs []uint64
			done := !resp.More
			for _, kv := range resp.Kvs {
				q, ok := parseSeqKey(string(kv.Key), prefix)
				if !ok || len(kv.Key) != len(prefix)+20 {
					continue
				}
				if q >= hi {
					done = true
					break
				}
				seqs = append(seqs, q)
			}
			recs, err := n.records(seqs)
			if err != nil {
				return err
			}
			for _, q := range seqs {
				v, ok := recs[q]
				if !ok {
					continue
				}
				if more, err := visit(q, v); err != nil || !more {
					return err
				}
			}
			if done || len(resp.Kvs) == 0 {
				return nil
			}
			from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
	}
	from := s.key(auditName(lo))
	end := s.key(auditName(hi))
	for {
		resp, err := n.get(from, clientv3.WithRange(end), clientv3.WithLimit(listPage))
		if err != nil {
			return fmt.Errorf("read audit trail: %w", err)
		}
		for _, kv := range resp.Kvs {
			q, _ := parseSeqKey(string(kv.Key), s.key(dirAudit))
			if more, err := visit(q, kv.Value); err != nil || !more {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// AuditForEvent returns every record of the event, in order.
func (s *Store) AuditForEvent(ctx context.Context, eventID string) ([]audit.Record, error) {
	var out []audit.Record
	q := audit.Query{EventID: eventID, Limit: 1000}
	for {
		recs, next, err := s.ListAudit(ctx, q)
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
// wrapping store.ErrNotFound when it was never stored or retention
// removed it.
func (s *Store) EventByID(ctx context.Context, id string) (uint64, event.Event, error) {
	n := s.snapshot(ctx)
	resp, err := n.get(s.key(dirSeen + id))
	if err != nil {
		return 0, event.Event{}, fmt.Errorf("event %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, event.Event{}, fmt.Errorf("event %s: %w", id, store.ErrNotFound)
	}
	var seq uint64
	if _, err := fmt.Sscan(string(resp.Kvs[0].Value), &seq); err != nil {
		return 0, event.Event{}, fmt.Errorf("event %s: idempotency key %q: %w", id, resp.Kvs[0].Value, err)
	}
	ev, err := s.Event(ctx, seq)
	if err != nil {
		return 0, event.Event{}, fmt.Errorf("event %s: %w", id, err)
	}
	return seq, ev, nil
}

// EventsSince calls fn for each stored event received at or after since,
// in inbox order (the input of replay). It pages through the inbox at one
// revision.
func (s *Store) EventsSince(ctx context.Context, sinceUnixNano int64, fn func(seq uint64, ev event.Event) error) error {
	n := s.snapshot(ctx)
	from, end := s.key(dirInbox), clientv3.GetPrefixRangeEnd(s.key(dirInbox))
	for {
		resp, err := n.get(from, clientv3.WithRange(end), clientv3.WithLimit(listPage))
		if err != nil {
			return fmt.Errorf("read inbox: %w", err)
		}
		for _, kv := range resp.Kvs {
			seq, _ := parseSeqKey(string(kv.Key), s.key(dirInbox))
			var ev event.Event
			if err := json.Unmarshal(kv.Value, &ev); err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
			if ev.ReceivedAt.UnixNano() < sinceUnixNano {
				continue
			}
			if err := fn(seq, ev); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// bucketDLQ is the bucket package store keeps dead letters in (store.PutDLQ
// writes them through the Tx); TestDLQThroughTheTx holds the two equal.
const bucketDLQ = "dlq"

// ListDLQ returns every dead-lettered step, oldest failure first.
func (s *Store) ListDLQ(ctx context.Context) ([]store.DLQEntry, error) {
	var out []store.DLQEntry
	err := s.View(ctx, func(tx state.Tx) error {
		out = out[:0]
		return tx.ForEach(bucketDLQ, func(key string, v []byte) error {
			var e store.DLQEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("dlq entry %s: %w", strings.SplitN(key, "|", 2)[0], err)
			}
			out = append(out, e)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].FailedAt.Before(out[j].FailedAt) })
	return out, err
}

// DLQCount returns the number of dead letters.
func (s *Store) DLQCount(ctx context.Context) (int, error) {
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	p := s.stateKey(bucketDLQ, "")
	resp, err := s.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return int(resp.Count), nil
}
