package etcd

import (
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
	// idempotency key, its pending marker); the sequence counter one
	// compare and one put, the member key one compare. etcd bounds each
	// list of a transaction (compares, then, else) by 128, so at most
	// (128-1)/3 events per transaction.
	maxTxnEvents = (maxTxnOps - 1) / 3
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
}

// AppendEvents makes events durable in the shared inbox, committed to a
// quorum before it returns. Events whose id was seen before, by any
// replica, are not stored again. The result has one entry per event: its
// inbox sequence (cluster-wide, increasing), or 0 for a duplicate, also
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
// events are committed. It is the one writer of the sequence counter on
// this replica; other replicas are kept out by the counter's compare.
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

// seqState is the commit loop's view of the sequence counter.
type seqState struct {
	last uint64
	// modRev is the counter key's ModRevision when last was read; 0 means
	// not known (the compare then fails once and the Else branch reads it).
	modRev int64
	known  bool
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
			// The counter may have moved (an ambiguous failure): read it
			// again before the next transaction.
			seq.known = false
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

// commitChunk stores the events of chunk in one transaction guarded by the
// sequence counter and each event's idempotency key. When the compare
// fails, the Else branch reports the counter and which ids exist; those are
// duplicates (seq 0) and the rest is tried again.
func (s *Store) commitChunk(chunk []pend, seq *seqState) error {
	se := s.current()
	if se == nil {
		return fmt.Errorf("commit %d events: %w", len(chunk), ErrFenced)
	}
	mk := s.memberKey(s.node)
	for attempt := 0; len(chunk) > 0; attempt++ {
		if attempt > 1000 {
			return fmt.Errorf("sequence counter kept moving: gave up after %d attempts", attempt)
		}
		seqKey := s.key(keySeq)
		// The member key: events are only accepted under a live session,
		// which owns them (their pending markers name it).
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(mk), "=", se.token)}
		if seq.known && seq.modRev > 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(seqKey), "=", seq.modRev))
		} else if seq.known {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(seqKey), "=", 0))
		} else {
			// Unknown: a compare that fails, so that Else reads it.
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(seqKey), "<", 0))
		}
		thens := make([]clientv3.Op, 0, 3*len(chunk)+1)
		elses := make([]clientv3.Op, 0, len(chunk)+2)
		elses = append(elses, clientv3.OpGet(seqKey))
		next := seq.last
		for _, p := range chunk {
			it := p.r.items[p.i]
			next++
			seen := s.key(dirSeen + it.id)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(seen), "=", 0))
			thens = append(thens,
				clientv3.OpPut(s.key(dirInbox+seqName(next)), string(it.val)),
				clientv3.OpPut(seen, strconv.FormatUint(next, 10)),
				clientv3.OpPut(s.key(dirPending+seqName(next)), se.owner))
			elses = append(elses, clientv3.OpGet(seen, clientv3.WithKeysOnly()))
		}
		elses = append(elses, clientv3.OpGet(mk, clientv3.WithKeysOnly()))
		thens = append(thens, clientv3.OpPut(seqKey, strconv.FormatUint(next, 10)))

		// Not a caller's context: the chunk serves several callers, and
		// one giving up must not fail the others.
		ctx, cancel := s.reqCtx(context.Background())
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(thens...).Else(elses...).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("commit %d events to etcd: %w", len(chunk), err)
		}
		if resp.Succeeded {
			n := seq.last
			mine := make([]uint64, 0, len(chunk))
			for _, p := range chunk {
				n++
				p.r.seqs[p.i] = n
				mine = append(mine, n)
			}
			s.own(mine, se.owner)
			seq.last, seq.modRev, seq.known = next, resp.Header.Revision, true
			return nil
		}
		rs := resp.Responses
		if m := rs[len(rs)-1].GetResponseRange().Kvs; len(m) == 0 || m[0].CreateRevision != se.token {
			s.fenced()
			return fmt.Errorf("commit %d events (fencing token %d): %w", len(chunk), se.token, ErrFenced)
		}
		// Read the counter and drop the ids that exist.
		seq.known, seq.last, seq.modRev = true, 0, 0
		if kvs := rs[0].GetResponseRange().Kvs; len(kvs) == 1 {
			v, err := strconv.ParseUint(string(kvs[0].Value), 10, 64)
			if err != nil {
				return fmt.Errorf("sequence counter %q: %w", kvs[0].Value, err)
			}
			seq.last, seq.modRev = v, kvs[0].ModRevision
		}
		rest := chunk[:0:0]
		for j, p := range chunk {
			if len(rs[j+1].GetResponseRange().Kvs) > 0 {
				p.r.seqs[p.i] = 0 // seen before, maybe on another replica
				continue
			}
			rest = append(rest, p)
		}
		chunk = rest
	}
	return nil
}

// seqName is the inbox key of seq: fixed width, so keys sort by sequence.
func seqName(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// Event returns the inbox event at seq.
func (s *Store) Event(ctx context.Context, seq uint64) (event.Event, error) {
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
