package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Claim is a held claim on one step.
type Claim struct {
	// Key is the step's key (event|playbook|phase|index).
	Key string
	// Owner is the replica that claimed it.
	Owner string
	// Token is the fencing token: the etcd revision of the claiming
	// transaction. It goes into the audit record and into CommitOutcome.
	Token int64
	// Lease is the lease the claim is held on.
	Lease clientv3.LeaseID
}

// ClaimedError is what Claim returns (wrapping ErrClaimed) for a step
// claimed before.
type ClaimedError struct {
	Key   string
	Owner string
	// Held is true while the owner's lease keeps the claim; false once the
	// owner died (or its lease was revoked) with no outcome committed: the
	// step was interrupted and must not run again.
	Held bool
	// Done is true when an outcome was committed.
	Done bool
}

func (e *ClaimedError) Error() string {
	state := "running"
	switch {
	case e.Done:
		state = "done"
	case !e.Held:
		state = "interrupted"
	}
	return fmt.Sprintf("step %s: claimed by %s (%s)", e.Key, e.Owner, state)
}

// Unwrap makes errors.Is(err, ErrClaimed) true.
func (e *ClaimedError) Unwrap() error { return ErrClaimed }

// Grant creates a lease of ttlSeconds and keeps it alive until ctx ends or
// the lease is revoked; claims made on it fall when it does.
func (s *Store) Grant(ctx context.Context, ttlSeconds int64) (clientv3.LeaseID, error) {
	gctx, cancel := s.reqCtx(ctx)
	resp, err := s.cli.Grant(gctx, ttlSeconds)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	ch, err := s.cli.KeepAlive(ctx, resp.ID)
	if err != nil {
		return 0, fmt.Errorf("keep lease alive: %w", err)
	}
	go func() {
		for range ch { //nolint:revive // drain keep-alive answers
		}
	}()
	return resp.ID, nil
}

// Claim claims step key for owner, at most once cluster-wide: one
// transaction creates claim/<key> (permanent, so the step is never claimed
// again, even after the owner dies) and hold/<key> on lease (it vanishes
// with the owner). Both are created only if claim/<key> does not exist. A
// step claimed before gets a *ClaimedError wrapping ErrClaimed.
func (s *Store) Claim(ctx context.Context, key, owner string, lease clientv3.LeaseID) (Claim, error) {
	ck, hk, ok := s.key(dirClaim+key), s.key(dirHold+key), s.key(dirOutcome+key)
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(ck), "=", 0)).
		Then(clientv3.OpPut(ck, owner), clientv3.OpPut(hk, owner, clientv3.WithLease(lease))).
		Else(clientv3.OpGet(ck), clientv3.OpGet(hk, clientv3.WithKeysOnly()), clientv3.OpGet(ok, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return Claim{}, fmt.Errorf("claim step %s: %w", key, err)
	}
	if resp.Succeeded {
		return Claim{Key: key, Owner: owner, Token: resp.Header.Revision, Lease: lease}, nil
	}
	ce := &ClaimedError{Key: key}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		ce.Owner = string(kvs[0].Value)
	}
	ce.Held = len(resp.Responses[1].GetResponseRange().Kvs) > 0
	ce.Done = len(resp.Responses[2].GetResponseRange().Kvs) > 0
	return Claim{}, ce
}

// CommitOutcome records the outcome of a claimed step, only if c still
// holds: hold/<key> must be the one created with token (CreateRevision
// equal to the token), which it is not once the lease was revoked or
// expired. A refused commit returns ErrFenced and writes nothing; the
// caller must treat its step as interrupted, not as done.
func (s *Store) CommitOutcome(ctx context.Context, c Claim, outcome []byte) error {
	hk := s.key(dirHold + c.Key)
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(hk), "=", c.Token)).
		Then(clientv3.OpPut(s.key(dirOutcome+c.Key), string(outcome)), clientv3.OpDelete(hk)).
		Commit()
	if err != nil {
		return fmt.Errorf("commit outcome of %s: %w", c.Key, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("commit outcome of %s (token %d): %w", c.Key, c.Token, ErrFenced)
	}
	return nil
}

// Outcome returns the committed outcome of step key, or nil.
func (s *Store) Outcome(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key(dirOutcome+key))
	if err != nil {
		return nil, fmt.Errorf("read outcome of %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}
