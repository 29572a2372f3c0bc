package etcd

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/firebreak/firebreak/engine/state"
)

// leaderState is this replica's leadership: the election key it holds,
// its CreateRevision, and the session it was won on.
type leaderState struct {
	key   string
	rev   int64
	token int64
}

// elector runs the campaign loop and tells listeners of changes.
type elector struct {
	mu        sync.Mutex
	running   bool
	stop      chan struct{}
	stopped   chan struct{}
	listeners []chan bool
	// wake is signalled when the session changed or leadership was lost.
	wake chan struct{}
}

// Campaign starts this replica's candidacy for leader of the cluster (an
// etcd election under <prefix>/leader/ on this replica's session) and
// returns at once. The replica leads until its session ends, it is
// deposed or Close; then it campaigns again on its next session. Timers
// (approval expiry, breaker cool-downs, retention) should run only while
// IsLeader, and commit through UpdateAsLeader.
func (s *Store) Campaign() {
	el := &s.elect
	el.mu.Lock()
	defer el.mu.Unlock()
	if el.running {
		return
	}
	el.running = true
	el.stop, el.stopped = make(chan struct{}), make(chan struct{})
	if el.wake == nil {
		el.wake = make(chan struct{}, 1)
	}
	go s.campaignLoop(el.stop, el.stopped)
}

// IsLeader reports whether this replica leads now.
func (s *Store) IsLeader() bool {
	ls := s.leader.Load()
	se := s.current()
	return ls != nil && se != nil && ls.token == se.token
}

// LeaderChanges returns a channel that receives true when this replica
// becomes leader and false when it stops leading. A slow reader misses
// intermediate values but always gets the latest.
func (s *Store) LeaderChanges() <-chan bool {
	el := &s.elect
	el.mu.Lock()
	defer el.mu.Unlock()
	ch := make(chan bool, 1)
	el.listeners = append(el.listeners, ch)
	return ch
}

// Leader returns the node name of the cluster's leader, or "" when there
// is none.
func (s *Store) Leader(ctx context.Context) (string, error) {
	se := s.current()
	if se == nil {
		return "", ErrFenced
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := concurrency.NewElection(se.cs, s.key(dirLeader)).Leader(ctx)
	if err == concurrency.ErrElectionNoLeader {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read leader: %w", err)
	}
	return string(resp.Kvs[0].Value), nil
}

// UpdateAsLeader is Update for the leader's timers: its commit also
// compares the leader key, so a replica that lost the leadership (its
// session expired, another was elected) commits nothing. It fails with
// ErrNotLeader then.
func (s *Store) UpdateAsLeader(ctx context.Context, fn func(state.Tx) error) error {
	if !s.IsLeader() {
		return fmt.Errorf("update as leader: %w", ErrNotLeader)
	}
	return s.update(ctx, &updOp{fn: fn, done: make(chan error, 1), leader: true})
}

func (s *Store) notifyLeader(v bool) {
	el := &s.elect
	el.mu.Lock()
	defer el.mu.Unlock()
	for _, ch := range el.listeners {
		select {
		case <-ch:
		default:
		}
		ch <- v
	}
}

// sessionChanged wakes the campaign loop.
func (s *Store) sessionChanged() {
	el := &s.elect
	el.mu.Lock()
	w := el.wake
	el.mu.Unlock()
	if w != nil {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// deposed is called when a leader's commit found its key gone.
func (s *Store) deposed(ls *leaderState) {
	if s.leader.CompareAndSwap(ls, nil) {
		s.log.Warn("leadership lost: the leader key is gone", "node", s.node)
		s.notifyLeader(false)
		s.sessionChanged()
	}
}

func (s *Store) stopCampaign() {
	el := &s.elect
	el.mu.Lock()
	running, stop, stopped := el.running, el.stop, el.stopped
	el.running = false
	el.mu.Unlock()
	if running {
		close(stop)
		<-stopped
	}
}

func (s *Store) campaignLoop(stop, stopped chan struct{}) {
	defer close(stopped)
	wake := s.elect.wake
	for {
		se := s.current()
		if se == nil {
			select {
			case <-wake:
			case <-time.After(time.Second):
			case <-stop:
				return
			}
			continue
		}
		ctx, cancel := context.WithCancel(se.cs.Ctx())
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		e := concurrency.NewElection(se.cs, s.key(dirLeader))
		err := e.Campaign(ctx, s.node)
		if err != nil {
			cancel()
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		ls := &leaderState{key: e.Key(), rev: e.Rev(), token: se.token}
		s.leader.Store(ls)
		s.log.Info("this replica leads the cluster", "node", s.node)
		s.notifyLeader(true)
		resign := false
	wait:
		for {
			select {
			case <-se.cs.Done():
				break wait
			case <-stop:
				resign = true
				break wait
			case <-wake:
				if s.leader.Load() != ls || s.current() != se {
					break wait
				}
			}
		}
		if s.leader.CompareAndSwap(ls, nil) {
			s.notifyLeader(false)
		}
		if resign {
			rctx, rcancel := s.reqCtx(context.Background())
			_ = e.Resign(rctx)
			rcancel()
			cancel()
			return
		}
		cancel()
	}
}
