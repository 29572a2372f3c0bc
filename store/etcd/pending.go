package etcd

import (
	"context"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event ownership. Every accepted event has a pending marker
// pending/<seq> whose value names the session that owns it
// ("<fencing token>/<node>"), written in the transaction that stores the
// event. An owner is alive while its member key members/<node> exists with
// that CreateRevision: the member key, on the session's lease, is the one
// owner key of all the session's events, so the append path writes nothing
// per event beyond the marker. When a session ends (its lease expired or was
// revoked), the takeover (any replica's) rewrites the markers of its
// unfinished events to its own session, in transactions that compare both
// the marker's old value and that the old member key is gone.
//
// Ordering: the events of one alert accepted by one replica are processed
// in order (the engine runs one fingerprint on one worker). Two replicas
// that accepted events of the same alert each process their own, in
// parallel; the step claims (one transaction each, serializable) still let
// every step run at most once. Events taken over are returned by Pending in
// sequence order, ahead of newer ones.

// Pending returns up to limit unfinished events owned by this replica that
// it has not returned yet: first those it took over from dead replicas, in
// sequence order, then those it accepted itself, in order. after is not
// used: sequences are cluster-wide, so a cursor past a taken-over event
// would skip this replica's own events accepted before it; the store
// remembers instead what it returned. An event is never returned twice
// while this replica owns it, except after a new session took it over
// again.
func (s *Store) Pending(_ context.Context, _ uint64, limit int) ([]uint64, error) {
	select {
	case <-s.done:
		return nil, ErrClosed
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint64
	take := func(queue []uint64) []uint64 {
		for len(queue) > 0 && len(out) < limit {
			q := queue[0]
			queue = queue[1:]
			if _, ok := s.owned[q]; !ok || s.delivered[q] {
				continue // finished meanwhile, or returned already
			}
			s.delivered[q] = true
			out = append(out, q)
		}
		return queue
	}
	s.adopted = take(s.adopted)
	s.fresh = take(s.fresh)
	return out, nil
}

// PendingCount returns how many accepted events are unfinished across the
// cluster; if etcd does not answer within a second, this replica's own.
func (s *Store) PendingCount() int {
	ctx, cancel := context.WithTimeout(s.bg, time.Second)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key(dirPending), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err == nil {
		return int(resp.Count)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.owned)
}

// Owned returns how many unfinished events this replica owns.
func (s *Store) Owned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.owned)
}

func (s *Store) own(seqs []uint64, owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se := s.current(); se == nil || se.owner != owner {
		return // the session ended meanwhile: the takeover decides
	}
	for _, q := range seqs {
		s.owned[q] = owner
	}
	s.fresh = append(s.fresh, seqs...)
}

func (s *Store) afterFinish(seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range seqs {
		delete(s.owned, q)
		delete(s.delivered, q)
		s.handoff.Drop(q) // finished without being loaded
	}
}

// Takeovers returns a channel that receives a value whenever this
// replica took events over from a dead one: call the engine's Notify then,
// so that Pending hands them out.
func (s *Store) Takeovers() <-chan struct{} { return s.takeovers }

func (s *Store) kickTakeover() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// takeoverLoop looks for the events of dead sessions when a member key
// goes, every TakeoverInterval, and when this replica starts a session.
func (s *Store) takeoverLoop() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(s.bg)
	defer cancel()
	wch := s.cli.Watch(ctx, s.key(dirMembers), clientv3.WithPrefix(), clientv3.WithFilterPut())
	t := time.NewTicker(s.takeoverEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case wr, ok := <-wch:
			if !ok {
				wch = s.cli.Watch(ctx, s.key(dirMembers), clientv3.WithPrefix(), clientv3.WithFilterPut())
				continue
			}
			if len(wr.Events) == 0 {
				continue
			}
		case <-s.kick:
		case <-t.C:
		}
		if n, err := s.Takeover(ctx); err != nil {
			s.log.Warn("taking over the events of dead replicas failed; will retry", "error", err)
		} else if n > 0 {
			s.log.Info("took over the events of dead replicas", "events", n)
		}
	}
}

// takeoverChunk bounds the markers one takeover transaction rewrites.
const takeoverChunk = 40

// Takeover claims, for this replica's session, the unfinished events whose
// owner session is gone, and returns how many it took. The takeover loop
// calls it; tests may too.
func (s *Store) Takeover(ctx context.Context) (int, error) {
	se := s.current()
	if se == nil {
		return 0, ErrFenced
	}
	// The markers first, then the members: an owner named by a marker
	// existed before the marker was read, so one missing from the later
	// read is dead (and the transaction checks it again).
	type orphan struct {
		seq   uint64
		owner string
		node  string
		token int64
	}
	var orphans []orphan
	var strays []uint64 // markers naming this session that it does not hold
	n := s.snapshot(ctx)
	from, end := s.key(dirPending), clientv3.GetPrefixRangeEnd(s.key(dirPending))
	for {
		resp, err := n.get(from, clientv3.WithRange(end), clientv3.WithLimit(1000))
		if err != nil {
			return 0, fmt.Errorf("takeover: read pending events: %w", err)
		}
		for _, kv := range resp.Kvs {
			v := string(kv.Value)
			q, _ := parseSeqKey(string(kv.Key), s.key(dirPending))
			if v == se.owner {
				strays = append(strays, q)
				continue
			}
			tok, node, ok := parseOwner(v)
			if !ok {
				continue
			}
			orphans = append(orphans, orphan{seq: q, owner: v, node: node, token: tok})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	// An append whose commit looked failed (a timeout) may have committed
	// events this session owns but does not know of. One seen unheld in
	// two passes is adopted (one pass could race with an append that is
	// about to record its events).
	s.mu.Lock()
	prev := s.strays
	s.strays = map[uint64]bool{}
	adopted := 0
	for _, q := range strays {
		if _, ok := s.owned[q]; ok {
			continue
		}
		if prev[q] {
			s.owned[q] = se.owner
			s.adopted = append(s.adopted, q)
			adopted++
		} else {
			s.strays[q] = true
		}
	}
	slices.Sort(s.adopted)
	s.mu.Unlock()
	if adopted > 0 {
		select {
		case s.takeovers <- struct{}{}:
		default:
		}
	}
	if len(orphans) == 0 {
		return adopted, nil
	}
	mctx, cancel := s.reqCtx(ctx)
	mresp, err := s.cli.Get(mctx, s.key(dirMembers), clientv3.WithPrefix())
	cancel()
	if err != nil {
		return 0, fmt.Errorf("takeover: read members: %w", err)
	}
	live := map[string]int64{}
	for _, kv := range mresp.Kvs {
		live[string(kv.Key)[len(s.key(dirMembers)):]] = kv.CreateRevision
	}
	dead := orphans[:0]
	for _, o := range orphans {
		if live[o.node] != o.token {
			dead = append(dead, o)
		}
	}
	taken := adopted
	for len(dead) > 0 {
		chunk := dead[:min(len(dead), takeoverChunk)]
		dead = dead[len(chunk):]
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.memberKey(s.node)), "=", se.token)}
		owners := map[string]bool{}
		var ops []clientv3.Op
		for _, o := range chunk {
			pk := s.key(dirPending + seqName(o.seq))
			cmps = append(cmps, clientv3.Compare(clientv3.Value(pk), "=", o.owner))
			if !owners[o.owner] {
				owners[o.owner] = true
				cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(s.memberKey(o.node)), "!=", o.token))
			}
			ops = append(ops, clientv3.OpPut(pk, se.owner))
		}
		tctx, cancel := s.reqCtx(ctx)
		resp, err := s.cli.Txn(tctx).If(cmps...).Then(ops...).Commit()
		cancel()
		if err != nil {
			return taken, fmt.Errorf("takeover: %w", err)
		}
		if !resp.Succeeded {
			continue // another replica was faster, or this one is fenced
		}
		s.mu.Lock()
		if cur := s.current(); cur == se {
			for _, o := range chunk {
				s.owned[o.seq] = se.owner
				delete(s.delivered, o.seq)
				s.adopted = append(s.adopted, o.seq)
			}
			slices.Sort(s.adopted)
		}
		s.mu.Unlock()
		taken += len(chunk)
	}
	if taken > 0 {
		select {
		case s.takeovers <- struct{}{}:
		default:
		}
	}
	return taken, nil
}
