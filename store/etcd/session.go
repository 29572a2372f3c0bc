package etcd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// session is one life of this replica in the cluster: an etcd lease kept
// alive, and the member key members/<node> attached to it. The member
// key's CreateRevision is the fencing token: every commit compares it, so
// once the lease is gone (revoked, or expired during a partition or a long
// pause) nothing this session prepared can commit any more.
type session struct {
	cs    *concurrency.Session
	token int64
	// owner is what this session writes into the pending markers of the
	// events it owns: "<token>/<node>".
	owner string
}

func ownerID(token int64, node string) string {
	return strconv.FormatInt(token, 10) + "/" + node
}

// parseOwner splits a pending marker's value.
func parseOwner(v string) (token int64, node string, ok bool) {
	t, n, found := strings.Cut(v, "/")
	if !found {
		return 0, "", false
	}
	tok, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return tok, n, true
}

func (s *Store) memberKey(node string) string { return s.key(dirMembers + node) }

// newSession grants a lease and creates this node's member key on it. If
// the key is held by a live session (another replica of the same name, or
// this one's previous life before its lease expired), it waits until that
// key goes or ctx ends.
func (s *Store) newSession(ctx context.Context) (*session, error) {
	// Grant the lease here, bounded by ctx: NewSession would grant it on
	// the session's own (long-lived) context and wait forever without a
	// quorum.
	gctx, gcancel := s.reqCtx(ctx)
	lease, err := s.cli.Grant(gctx, int64(s.ttl/time.Second))
	gcancel()
	if err != nil {
		return nil, fmt.Errorf("start etcd session: %w", err)
	}
	cs, err := concurrency.NewSession(s.cli, concurrency.WithTTL(int(s.ttl/time.Second)), concurrency.WithLease(lease.ID), concurrency.WithContext(s.bg))
	if err != nil {
		return nil, fmt.Errorf("start etcd session: %w", err)
	}
	mk := s.memberKey(s.node)
	for {
		tctx, cancel := s.reqCtx(ctx)
		resp, err := s.cli.Txn(tctx).
			If(clientv3.Compare(clientv3.CreateRevision(mk), "=", 0)).
			Then(clientv3.OpPut(mk, s.node, clientv3.WithLease(cs.Lease()))).
			Else(clientv3.OpGet(mk)).
			Commit()
		cancel()
		if err != nil {
			_ = cs.Close()
			return nil, fmt.Errorf("register member %s: %w", s.node, err)
		}
		if resp.Succeeded {
			tok := resp.Header.Revision
			return &session{cs: cs, token: tok, owner: ownerID(tok, s.node)}, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		var rev int64
		if len(kvs) > 0 {
			rev = kvs[0].ModRevision
		}
		s.log.Warn("another live session holds this node's member key; waiting for it to end", "node", s.node)
		wctx, wcancel := context.WithCancel(ctx)
		wch := s.cli.Watch(wctx, mk, clientv3.WithRev(rev+1), clientv3.WithFilterPut())
		select {
		case <-wch:
		case <-ctx.Done():
		case <-time.After(s.ttl):
		}
		wcancel()
		if ctx.Err() != nil {
			_ = cs.Close()
			return nil, fmt.Errorf("register member %s: the name is held by a live replica: %w", s.node, ctx.Err())
		}
	}
}

// current returns the live session, or nil while fenced.
func (s *Store) current() *session { return s.sess.Load() }

// FencingToken returns the current session's token (its member key's
// CreateRevision), or 0 while this replica is fenced.
func (s *Store) FencingToken() int64 {
	if se := s.current(); se != nil {
		return se.token
	}
	return 0
}

// Node returns this replica's name.
func (s *Store) Node() string { return s.node }

// sessionLoop watches the session; when its lease is lost it marks the
// store fenced (commits fail with ErrFenced), then starts a new session.
// The events the old session owned are left to the takeover, which this
// replica runs too.
func (s *Store) sessionLoop() {
	defer s.wg.Done()
	for {
		se := s.current()
		if se == nil {
			// Fenced: start a new session, retrying until Close.
			ctx, cancel := context.WithTimeout(s.bg, s.ttl+s.timeout)
			ns, err := s.newSession(ctx)
			cancel()
			if err != nil {
				s.health.fail(err)
				s.log.Error("starting a new etcd session failed; will retry", "error", err)
				select {
				case <-time.After(time.Second):
				case <-s.done:
					return
				}
				continue
			}
			s.mu.Lock()
			s.owned = map[uint64]string{}
			s.fresh, s.adopted, s.delivered = nil, nil, map[uint64]bool{}
			s.mu.Unlock()
			s.sess.Store(ns)
			s.log.Info("etcd session started", "node", s.node, "fencing_token", ns.token)
			s.sessionChanged()
			s.kickTakeover()
			continue
		}
		select {
		case <-se.cs.Done():
		case <-s.lost:
		case <-s.done:
			return
		}
		if s.sess.CompareAndSwap(se, nil) {
			s.log.Error("etcd session lost: this replica is fenced until a new session starts", "node", s.node, "fencing_token", se.token)
			s.health.fail(ErrFenced)
			se.cs.Orphan()
			s.sessionChanged()
		}
	}
}

// fenced is called by a commit that found the member key gone.
func (s *Store) fenced() {
	select {
	case s.lost <- struct{}{}:
	default:
	}
}
