package etcd

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

// readyHold is how long after a failed commit Ready reports not-ready
// unless real work commits again; after it, Ready's own probe decides.
const readyHold = 30 * time.Second

// health remembers the last commit that failed, until work commits.
type health struct {
	mu  sync.Mutex
	err error
	at  time.Time
}

func (h *health) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err, h.at = err, time.Now()
}

// ok clears a remembered failure when a commit carried real work, or when
// readyHold has passed since the failure.
func (h *health) ok(batch []*updOp) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return
	}
	for _, o := range batch {
		if !o.probe {
			h.err = nil
			return
		}
	}
	if time.Since(h.at) >= readyHold {
		h.err = nil
	}
}

// Ready fails while this replica cannot commit: it is fenced (no session),
// recent commits failed, or a probe transaction (through the whole update
// path: quorum, fencing compare) does not commit within the request
// timeout. Appends are refused in the same cases, so /readyz and the
// webhooks agree.
func (s *Store) Ready(ctx context.Context) error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	if s.current() == nil {
		return fmt.Errorf("etcd store: %w", ErrFenced)
	}
	s.health.mu.Lock()
	err, at := s.health.err, s.health.at
	s.health.mu.Unlock()
	if err != nil && time.Since(at) < readyHold {
		return fmt.Errorf("%w: %w", store.ErrCommitFailing, err)
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	o := &updOp{fn: func(tx state.Tx) error { return tx.Put("health", "ready/"+s.node, []byte("1")) }, done: make(chan error, 1), probe: true}
	if err := s.update(ctx, o); err != nil {
		return fmt.Errorf("etcd store: %w", err)
	}
	return nil
}
