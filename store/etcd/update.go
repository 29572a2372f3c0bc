package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/firebreak/firebreak/engine/state"
)

// maxUpdateBatch bounds how many queued functions one batch takes.
const maxUpdateBatch = 512

// maxConflicts bounds how often one batch is run again after another
// replica's commit changed what it read.
const maxConflicts = 64

// errConflict is a commit refused because what the round read changed;
// errHeadMoved one refused only because another replica moved the audit
// head.
var (
	errConflict  = errors.New("a key read by the transaction changed")
	errHeadMoved = errors.New("the audit head moved")
)

type updOp struct {
	fn     func(state.Tx) error
	done   chan error
	leader bool
	probe  bool
}

// Update runs fn in a serializable transaction shared with other queued
// callers of this replica, and returns once it is committed to a quorum.
// fn may run more than once (when another replica's commit changed what it
// read, the group runs again at a newer revision) and must only read and
// write through its Tx. A function's own error fails only its caller; the
// others commit without its effects. Once the replica's session is lost,
// Update fails with ErrFenced until a new session starts.
func (s *Store) Update(ctx context.Context, fn func(state.Tx) error) error {
	return s.update(ctx, &updOp{fn: fn, done: make(chan error, 1)})
}

func (s *Store) update(ctx context.Context, o *updOp) error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
	// Once queued the function is committed or fails; wait for the answer
	// even if ctx ends, so a caller never mistakes a commit for a loss.
	return <-o.done
}

// View runs fn against a snapshot of the cluster's state at one revision.
// Writes fail with ErrReadOnly.
func (s *Store) View(ctx context.Context, fn func(state.Tx) error) error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	r := s.newRound(ctx)
	r.readOnly = true
	tx := &Tx{r: r, parent: &r.merged, own: newEffects()}
	err := fn(tx)
	if r.readErr != nil {
		return r.readErr
	}
	return err
}

func (s *Store) newRound(ctx context.Context) *round {
	return &round{s: s, ctx: ctx, cache: map[string]kvRead{}, rangeCache: map[string][]kvPair{}, merged: newEffects()}
}

func (s *Store) updateLoop() {
	defer s.wg.Done()
	batch := make([]*updOp, 0, maxUpdateBatch)
	for {
		select {
		case o := <-s.ops:
			batch = append(batch[:0], o)
		drain:
			for len(batch) < maxUpdateBatch {
				select {
				case o := <-s.ops:
					batch = append(batch, o)
				default:
					break drain
				}
			}
			s.runBatch(batch)
		case <-s.done:
			for {
				select {
				case o := <-s.ops:
					o.done <- ErrClosed
				default:
					return
				}
			}
		}
	}
}

// Stats counts the update path's work, for benchmarks and tests.
type Stats struct {
	// Commits is the number of transactions committed; Functions the
	// number of functions they carried.
	Commits, Functions uint64
	// Conflicts counts rounds run again because another replica changed
	// what they read; HeadRetries the commits retried because only the
	// audit head moved (the functions did not run again).
	Conflicts, HeadRetries uint64
}

type statsBox struct {
	mu sync.Mutex
	v  Stats
}

// UpdateStats returns the update path's counters.
func (s *Store) UpdateStats() Stats {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return s.stats.v
}

func (s *Store) count(f func(*Stats)) {
	s.stats.mu.Lock()
	f(&s.stats.v)
	s.stats.mu.Unlock()
}

// runBatch commits the functions of batch in as few transactions as
// etcd's limits allow and answers each.
func (s *Store) runBatch(queue []*updOp) {
	conflicts := 0
	signEvery := 0
	if sg := s.hooks.signer.Load(); sg != nil {
		signEvery = sg.every
	}
	for len(queue) > 0 {
		se := s.current()
		if se == nil {
			for _, o := range queue {
				o.done <- fmt.Errorf("commit: %w", ErrFenced)
			}
			return
		}
		r := s.newRound(s.bg)
		in, rest, readFailed := s.fill(r, nil, queue, signEvery)
		var err error
		for heads := 0; !readFailed && len(in) > 0; heads++ {
			err = s.commitRound(r, se, in[0].leader)
			if !errors.Is(err, errHeadMoved) || heads >= maxConflicts {
				break
			}
			// Only the audit head moved: the functions' reads still hold.
			// Take what was queued meanwhile into the same round (their
			// reads are at its revision too), so that a contended head
			// costs fewer commits per function, and commit again.
			s.count(func(st *Stats) { st.HeadRetries++ })
		more:
			for len(in)+len(rest) < maxUpdateBatch {
				select {
				case o := <-s.ops:
					rest = append(rest, o)
				default:
					break more
				}
			}
			in, rest, readFailed = s.fill(r, in, rest, signEvery)
		}
		if readFailed {
			s.health.fail(errReadFailed)
			queue = rest
			continue
		}
		if len(in) == 0 {
			queue = rest
			continue
		}
		switch {
		case err == nil:
			s.count(func(st *Stats) { st.Commits++; st.Functions += uint64(len(in)) })
			s.health.ok(in)
			for _, o := range in {
				o.done <- nil
			}
			queue, conflicts = rest, 0
		case errors.Is(err, errConflict) && conflicts < maxConflicts:
			conflicts++
			s.count(func(st *Stats) { st.Conflicts++ })
			queue = append(in, rest...)
			if conflicts > 2 {
				// Several replicas fight over the same keys: back off a
				// little, differently on each.
				time.Sleep(time.Duration(conflicts*int(se.token%7+1)) * time.Millisecond)
			}
		default:
			if !errors.Is(err, ErrNotLeader) {
				s.health.fail(err)
			}
			for _, o := range in {
				o.done <- err
			}
			queue = rest
		}
	}
}

// fill runs the functions of queue, in order, into round r (which already
// holds those of in) while they fit in one transaction, and returns the
// functions now in the round and those left. A function's error answers
// it alone. When a read fails, every function of the round is answered
// with the read's error and readFailed is true.
func (s *Store) fill(r *round, in, queue []*updOp, signEvery int) (_, rest []*updOp, readFailed bool) {
	for i, o := range queue {
		if len(in) > 0 && o.leader != in[0].leader {
			return in, queue[i:], false
		}
		tx := &Tx{r: r, parent: &r.merged, own: newEffects()}
		err := o.fn(tx)
		if r.readErr != nil {
			// etcd did not answer a read: this round cannot commit.
			for _, p := range append(in, o) {
				p.done <- r.readErr
			}
			return nil, queue[i+1:], true
		}
		if err != nil {
			o.done <- err
			continue
		}
		c1, o1 := r.merged.cost(signEvery)
		c2, o2 := tx.own.cost(signEvery)
		fits := c1+c2+o1+o2+3 <= maxTxnOps && r.merged.bytes+tx.own.bytes <= maxTxnBytes-txnSlack
		if !fits {
			if len(in) == 0 {
				o.done <- fmt.Errorf("commit: %d compares, %d operations, %d bytes: %w", c2, o2, tx.own.bytes, ErrTxnTooLarge)
				continue
			}
			return in, queue[i:], false
		}
		r.merged.merge(&tx.own)
		in = append(in, o)
	}
	return in, nil, false
}

// commitRound commits the merged effects of r as one transaction: it
// compares this session's member key (fencing), the leader key for a
// leader's round, and everything the functions read; the audit records are
// chained against the head in a nested transaction, so that a head moved
// by another replica only re-chains the records (the functions do not run
// again).
func (s *Store) commitRound(r *round, se *session, leader bool) error {
	e := &r.merged
	mk := s.memberKey(s.node)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(mk), "=", se.token)}
	if leader {
		ls := s.leader.Load()
		if ls == nil || ls.token != se.token {
			return fmt.Errorf("commit: %w", ErrNotLeader)
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(ls.key), "=", ls.rev))
	}
	seen := map[string]bool{}
	cmpKey := func(k string, v kvRead) {
		if seen[k] {
			return
		}
		seen[k] = true
		if v.exists {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", v.modRev))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		}
	}
	for k := range e.reads {
		cmpKey(k, r.cache[k])
	}
	for _, rr := range e.ranges {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(rr.start), "<", r.rev+1).WithRange(rr.end))
		if len(rr.keys) <= rangeCompareKeys {
			for _, kv := range rr.keys {
				cmpKey(kv.key, kvRead{exists: true, modRev: kv.modRev})
			}
		}
	}
	var ops []clientv3.Op
	for _, k := range e.order {
		if w := e.writes[k]; w.del {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(w.val)))
		}
	}
	for _, d := range e.rawDeletes {
		ops = append(ops, clientv3.OpDelete(d[0], clientv3.WithRange(d[1])))
	}
	auditing := len(e.audits) > 0 || len(e.signNow) > 0 || e.auditBytes != 0
	{
		var ch chained
		then := ops
		if auditing {
			h, err := s.auditHead(r.ctx)
			if err != nil {
				return err
			}
			ch, err = s.chain(h, e)
			if err != nil {
				return err
			}
			inner := clientv3.OpTxn([]clientv3.Cmp{h.compare(s.key(keyAuditHead))},
				append(append([]clientv3.Op{}, ops...), ch.ops...),
				[]clientv3.Op{clientv3.OpGet(s.key(keyAuditHead))})
			then = []clientv3.Op{inner}
		}
		ctx, cancel := s.reqCtx(context.Background())
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(then...).Else(clientv3.OpGet(mk)).Commit()
		cancel()
		if err != nil {
			s.head.forget()
			return fmt.Errorf("commit to etcd: %w", err)
		}
		if !resp.Succeeded {
			kvs := resp.Responses[0].GetResponseRange().Kvs
			if len(kvs) == 0 || kvs[0].CreateRevision != se.token {
				s.fenced()
				return fmt.Errorf("commit (fencing token %d): %w", se.token, ErrFenced)
			}
			if leader {
				if ls := s.leader.Load(); ls != nil {
					lctx, lcancel := s.reqCtx(context.Background())
					lr, lerr := s.cli.Get(lctx, ls.key)
					lcancel()
					if lerr == nil && (len(lr.Kvs) == 0 || lr.Kvs[0].CreateRevision != ls.rev) {
						s.deposed(ls)
						return fmt.Errorf("commit: %w", ErrNotLeader)
					}
				}
			}
			return errConflict
		}
		if auditing {
			inner := resp.Responses[0].GetResponseTxn()
			if !inner.Succeeded {
				// Only the head moved (another replica audited): take it;
				// the caller chains again.
				s.head.set(inner.Responses[0].GetResponseRange().Kvs)
				return errHeadMoved
			}
			s.head.committed(ch.head, resp.Header.Revision)
			for _, q := range e.signNow {
				q.out = ch.now
			}
			s.afterCommit(ch)
		}
		s.afterFinish(e.finished)
		return nil
	}
}
