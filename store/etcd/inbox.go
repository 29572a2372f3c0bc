package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/store"
)

// etcd's default limits on one transaction (--max-txn-ops and
// --max-request-bytes). A batch is split to stay under both, with room for
// the request's framing.
const (
	maxTxnOps   = 128
	maxTxnBytes = 1536 * 1024
	// Each event costs one compare and three puts (the event, its
	// idempotency key, its pending marker); the member key one compare.
	// etcd bounds each list of a transaction (compares, then, else) by
	// 128, so at most 128/3 events per transaction.
	maxTxnEvents = maxTxnOps / 3
	txnSlack     = 16 * 1024
	opOverhead   = 64
)

// appendReq is one AppendEvents call waiting for the commit loop.
type appendReq struct {
	ctx   context.Context
	items []item
	res   chan error
	// seqs is filled by the loop before res is answered.
	seqs []uint64
}

type item struct {
	id   string
	val  []byte
	size int
	// handed is the event as Event reads it back, for the handoff; ok
	// is false when store.AsStored cannot tell it.
	handed event.Event
	ok     bool
}

// AppendEvents makes events durable in the shared inbox, committed to a
// quorum before it returns. Events whose id was seen before, by any
// replica, are not stored again. The result has one entry per event: its
// inbox sequence (unique in the cluster, increasing on this replica), or 0 for a duplicate, also
// for the second of two events with the same id in one call. Concurrent
// callers share transactions. On error nothing is acknowledged: some of
// the events may have been committed, and sending them again finds them
// as duplicates.
func (s *Store) AppendEvents(ctx context.Context, events []event.Event) ([]uint64, error) {
	r := &appendReq{ctx: ctx, items: make([]item, len(events)), res: make(chan error, 1), seqs: make([]uint64, len(events))}
	for i := range events {
		if events[i].ID == "" {
			return nil, fmt.Errorf("append events: event %d: %w", i, ErrInvalidEvent)
		}
		v, err := jsonEvent(&events[i])
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", events[i].ID, err)
		}
		it := item{id: events[i].ID, val: v, size: s.itemSize(events[i].ID, v)}
		ev := events[i]
		if len(ev.Raw) > 0 {
			if i > 0 && sameBytes(ev.Raw, events[i-1].Raw) {
				ev.Raw = r.items[i-1].handed.Raw // the group's body, made once
			} else {
				ev.Raw = marshalledRaw(ev.Raw)
			}
		}
		it.handed, it.ok = store.AsStored(ev)
		if it.size > maxTxnBytes-txnSlack {
			return nil, fmt.Errorf("append event %s (%d bytes): %w", it.id, len(v), ErrTooLarge)
		}
		r.items[i] = it
	}
	if len(events) == 0 {
		return []uint64{}, nil
	}
	select {
	case <-s.done:
		return nil, ErrClosed
	default:
	}
	select {
	case s.reqs <- r:
	case <-s.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("append events: %w", ctx.Err())
	}
	answer := func(err error) ([]uint64, error) {
		if err != nil {
			return nil, fmt.Errorf("append events: %w", err)
		}
		return r.seqs, nil
	}
	select {
	case err := <-r.res:
		return answer(err)
	case <-s.done:
		// Closing: take the loop's answer if it has one; otherwise the
		// events are not acknowledged (a re-send finds any that were
		// committed).
		select {
		case err := <-r.res:
			return answer(err)
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		// The loop may still commit them; a re-send finds them.
		return nil, fmt.Errorf("append events: %w", ctx.Err())
	}
}

func jsonEvent(ev *event.Event) ([]byte, error) { return json.Marshal(ev) }

// marshalledRaw is a body as json.Marshal writes a json.RawMessage, and so
// as Event reads it back: compacted, with <, >, &, U+2028 and U+2029 in
// strings escaped. An invalid body is returned as it is (its event fails
// to encode anyway).
func marshalledRaw(raw []byte) []byte {
	var c, h bytes.Buffer
	if json.Compact(&c, raw) != nil {
		return raw
	}
	json.HTMLEscape(&h, c.Bytes())
	return h.Bytes()
}

// sameBytes reports whether a and b are the same slice of memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

// itemSize estimates what an event adds to a transaction: its two puts
// (inbox and idempotency key), its compare and their keys.
func (s *Store) itemSize(id string, val []byte) int {
	return 4*opOverhead + 4*len(s.prefix) + len(dirInbox) + 20 + len(val) + 2*(len(dirSeen)+len(id)) + 20 + len(dirPending) + 20 + 64
}

// pend is one event of a batch: which request and index it answers.
type pend struct {
	r *appendReq
	i int
}

// commitLoop takes every waiting request, commits their events in as few
// transactions as the limits allow, and answers each request after its
// events are committed. It is the one user of this replica's block of
// sequence numbers. Commits run one at a time: running them concurrently
// measured no faster (etcd's own pipeline is the limit) and made larger
// transactions slower.
func (s *Store) commitLoop() {
	defer s.wg.Done()
	var seq seqState
	for {
		var first *appendReq
		select {
		case first = <-s.reqs:
		case <-s.done:
			s.drain()
			return
		}
		batch := []*appendReq{first}
	more:
		for {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commitBatch(batch, &seq)
	}
}

// drain answers the requests still queued at Close.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.reqs:
			r.res <- ErrClosed
		default:
			return
		}
	}
}

// seqBlock is how many sequence numbers a replica reserves at once. The
// counter meta/seq holds the highest number reserved by any replica; a
// replica moves it to the end of the next whole block, [k·seqBlock+1,
// (k+1)·seqBlock], in one compare-and-swap and then numbers its events
// from that block without touching the counter, so replicas accepting at
// once do not serialise on it. Each block is one replica's, filled in the
// order that replica accepted its events: the inbox is in arrival order
// block by block (compactInbox relies on it). Numbers left in a block when
// a replica stops, and those of a commit that failed, are never used: the
// sequence is unique in the cluster and increasing per replica, with gaps.
const seqBlock = 1024

// blockEnd returns the last number of q's block.
func blockEnd(q uint64) uint64 { return ((q-1)/seqBlock + 1) * seqBlock }

// seqState is the commit loop's block of sequence numbers: next is the
// next free one, end the last of the block.
type seqState struct {
	next, end uint64
	// last and modRev are the counter as this replica last saw it (modRev
	// 0: not known, so the reservation reads it first).
	last   uint64
	modRev int64
	known  bool
}

// take returns the first of n consecutive sequence numbers (n ≤
// maxTxnEvents) from the block, reserving the next whole block when fewer
// than n are left (the rest of the old one is not used).
func (s *Store) take(seq *seqState, n int) (uint64, error) {
	if seq.next > 0 && seq.next+uint64(n)-1 <= seq.end {
		first := seq.next
		seq.next += uint64(n)
		return first, nil
	}
	seqKey := s.key(keySeq)
	for attempt := 0; ; attempt++ {
		if attempt > 100 {
			return 0, fmt.Errorf("reserve sequence numbers: the counter kept moving: gave up after %d attempts", attempt)
		}
		var cmp clientv3.Cmp
		switch {
		case seq.known && seq.modRev > 0:
			cmp = clientv3.Compare(clientv3.ModRevision(seqKey), "=", seq.modRev)
		case seq.known:
			cmp = clientv3.Compare(clientv3.CreateRevision(seqKey), "=", 0)
		default:
			// Unknown: a compare that fails, so that Else reads it.
			cmp = clientv3.Compare(clientv3.ModRevision(seqKey), "<", 0)
		}
		// The next whole block after everything reserved (a migrated
		// inbox may have left the counter inside a block).
		end := blockEnd(seq.last+1) + seqBlock
		if seq.last%seqBlock == 0 {
			end = seq.last + seqBlock
		}
		ctx, cancel := s.reqCtx(context.Background())
		resp, err := s.cli.Txn(ctx).If(cmp).
			Then(clientv3.OpPut(seqKey, strconv.FormatUint(end, 10))).
			Else(clientv3.OpGet(seqKey)).Commit()
		cancel()
		if err != nil {
			seq.known = false // it may have moved: read it again
			return 0, fmt.Errorf("reserve sequence numbers: %w", err)
		}
		if resp.Succeeded {
			first := end - seqBlock + 1
			seq.next, seq.end = first+uint64(n), end
			seq.last, seq.modRev = end, resp.Header.Revision
			return first, nil
		}
		seq.known, seq.last, seq.modRev = true, 0, 0
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			v, err := strconv.ParseUint(string(kvs[0].Value), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("sequence counter %q: %w", kvs[0].Value, err)
			}
			seq.last, seq.modRev = v, kvs[0].ModRevision
		}
	}
}

// commitBatch commits the events of batch, skipping requests whose caller
// gave up, and answers every request.
func (s *Store) commitBatch(batch []*appendReq, seq *seqState) {
	var live []*appendReq
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.res <- r.ctx.Err()
			continue
		}
		live = append(live, r)
	}
	// Duplicates inside the batch: the first occurrence is the one stored.
	// A later one stays 0, but its request only succeeds if the first
	// one's did: a duplicate is never acknowledged for an event that was
	// not committed.
	firstOf := map[string]*appendReq{}
	dependsOn := map[*appendReq][]*appendReq{}
	var todo []pend
	for _, r := range live {
		for i, it := range r.items {
			if owner, ok := firstOf[it.id]; ok {
				if owner != r {
					dependsOn[r] = append(dependsOn[r], owner)
				}
				continue
			}
			firstOf[it.id] = r
			todo = append(todo, pend{r, i})
		}
	}
	failed := map[*appendReq]error{}
	for len(todo) > 0 {
		n, bytes := 0, 0
		for n < len(todo) && n < maxTxnEvents {
			sz := todo[n].r.items[todo[n].i].size
			if n > 0 && bytes+sz > maxTxnBytes-txnSlack {
				break
			}
			bytes += sz
			n++
		}
		chunk := todo[:n]
		todo = todo[n:]
		if err := s.commitChunk(chunk, seq); err != nil {
			for _, p := range chunk {
				failed[p.r] = err
			}
		}
	}
	for _, r := range live {
		err := failed[r]
		for _, owner := range dependsOn[r] {
			if err == nil && failed[owner] != nil {
				err = failed[owner]
			}
		}
		r.res <- err
	}
}

// commitChunk stores the events of chunk in one transaction, numbered from
// this replica's block, guarded by the member key (the session's fencing
// token) and each event's idempotency key. When a compare fails, the Else
// branch reports which ids exist; those are duplicates (seq 0) and the
// rest is tried again with new numbers.
func (s *Store) commitChunk(chunk []pend, seq *seqState) error {
	se := s.current()
	if se == nil {
		return fmt.Errorf("commit %d events: %w", len(chunk), ErrFenced)
	}
	mk := s.memberKey(s.node)
	for len(chunk) > 0 {
		first, err := s.take(seq, len(chunk))
		if err != nil {
			return fmt.Errorf("commit %d events: %w", len(chunk), err)
		}
		// The member key: events are only accepted under a live session,
		// which owns them (their pending markers name it).
		cmps := make([]clientv3.Cmp, 0, len(chunk)+1)
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(mk), "=", se.token))
		thens := make([]clientv3.Op, 0, 3*len(chunk))
		elses := make([]clientv3.Op, 0, len(chunk)+1)
		for j, p := range chunk {
			it := p.r.items[p.i]
			n := first + uint64(j)
			seen := s.key(dirSeen + it.id)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(seen), "=", 0))
			thens = append(thens,
				clientv3.OpPut(s.key(dirInbox+seqName(n)), string(it.val)),
				clientv3.OpPut(seen, strconv.FormatUint(n, 10)),
				clientv3.OpPut(s.key(dirPending+seqName(n)), se.owner))
			elses = append(elses, clientv3.OpGet(seen, clientv3.WithKeysOnly()))
		}
		elses = append(elses, clientv3.OpGet(mk, clientv3.WithKeysOnly()))

		// Not a caller's context: the chunk serves several callers, and
		// one giving up must not fail the others.
		ctx, cancel := s.reqCtx(context.Background())
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(thens...).Else(elses...).Commit()
		cancel()
		if err != nil {
			// The numbers may have been used (an ambiguous failure): they
			// were taken from the block and are not handed out again.
			return fmt.Errorf("commit %d events to etcd: %w", len(chunk), err)
		}
		if resp.Succeeded {
			mine := make([]uint64, 0, len(chunk))
			for j, p := range chunk {
				n := first + uint64(j)
				p.r.seqs[p.i] = n
				mine = append(mine, n)
				// Before own makes it pending, so the engine finds it.
				if it := &p.r.items[p.i]; it.ok {
					s.handoff.Put(n, it.handed)
				}
			}
			s.own(mine, se.owner)
			return nil
		}
		rs := resp.Responses
		if m := rs[len(rs)-1].GetResponseRange().Kvs; len(m) == 0 || m[0].CreateRevision != se.token {
			s.fenced()
			return fmt.Errorf("commit %d events (fencing token %d): %w", len(chunk), se.token, ErrFenced)
		}
		// Drop the ids that exist.
		rest := chunk[:0:0]
		for j, p := range chunk {
			if len(rs[j].GetResponseRange().Kvs) > 0 {
				p.r.seqs[p.i] = 0 // seen before, maybe on another replica
				continue
			}
			rest = append(rest, p)
		}
		if len(rest) == len(chunk) {
			return fmt.Errorf("commit %d events: the transaction failed with no id seen and the session held", len(chunk))
		}
		chunk = rest
	}
	return nil
}

// seqName is the inbox key of seq: fixed width, so keys sort by sequence.
func seqName(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// Event returns the inbox event at seq.
func (s *Store) Event(ctx context.Context, seq uint64) (event.Event, error) {
	if ev, ok := s.handoff.Take(seq); ok {
		return ev, nil
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key(dirInbox+seqName(seq)))
	if err != nil {
		return event.Event{}, fmt.Errorf("read event %d: %w", seq, err)
	}
	if len(resp.Kvs) == 0 {
		return event.Event{}, fmt.Errorf("event %d: %w", seq, store.ErrNotFound)
	}
	var ev event.Event
	if err := json.Unmarshal(resp.Kvs[0].Value, &ev); err != nil {
		return event.Event{}, fmt.Errorf("decode event %d: %w", seq, err)
	}
	return ev, nil
}

// InboxLen counts the events in the inbox (for tests and status pages).
func (s *Store) InboxLen(ctx context.Context) (int64, error) {
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key(dirInbox), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count inbox: %w", err)
	}
	return resp.Count, nil
}
