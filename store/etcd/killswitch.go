package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// KillSwitch is the cluster-wide pause: while On, no replica runs actions.
type KillSwitch struct {
	On bool
	// By is who set it (a token's name, a user), empty when off.
	By string
}

// SetKillSwitch pauses (on) or resumes the whole cluster.
func (s *Store) SetKillSwitch(ctx context.Context, on bool, by string) error {
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	var err error
	if on {
		_, err = s.cli.Put(ctx, s.key(keyKill), by)
	} else {
		_, err = s.cli.Delete(ctx, s.key(keyKill))
	}
	if err != nil {
		return fmt.Errorf("set kill switch: %w", err)
	}
	return nil
}

// KillSwitchState reads the kill switch.
func (s *Store) KillSwitchState(ctx context.Context) (KillSwitch, int64, error) {
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key(keyKill))
	if err != nil {
		return KillSwitch{}, 0, fmt.Errorf("read kill switch: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return KillSwitch{}, resp.Header.Revision, nil
	}
	return KillSwitch{On: true, By: string(resp.Kvs[0].Value)}, resp.Header.Revision, nil
}

// WatchKillSwitch sends the kill switch's state now, then every change,
// until ctx ends; the channel is closed then. A replica that pauses is thus
// seen by every other at once. When the watch breaks (etcd unreachable for
// long, compaction), it reads the state again and resumes, so no change is
// missed for long.
func (s *Store) WatchKillSwitch(ctx context.Context) <-chan KillSwitch {
	out := make(chan KillSwitch, 1)
	go func() {
		defer close(out)
		send := func(k KillSwitch) bool {
			select {
			case out <- k:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for ctx.Err() == nil {
			cur, rev, err := s.KillSwitchState(ctx)
			if err != nil {
				s.log.Warn("reading the kill switch failed", "error", err)
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
				continue
			}
			if !send(cur) {
				return
			}
			wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.key(keyKill), clientv3.WithRev(rev+1))
			for wr := range wch {
				if err := wr.Err(); err != nil {
					s.log.Warn("kill switch watch broke", "error", err)
					break
				}
				for _, ev := range wr.Events {
					k := KillSwitch{}
					if ev.Type == clientv3.EventTypePut {
						k = KillSwitch{On: true, By: string(ev.Kv.Value)}
					}
					if !send(k) {
						return
					}
				}
			}
		}
	}()
	return out
}

// WatchBucket sends a value whenever a key of the state bucket changes on
// any replica, until ctx ends (the channel is closed then). The guard keeps
// its kill switch in the bucket guard_control: a replica watching it calls
// the engine's Notify when another replica resumes, so that steps held
// while paused run at once. Changes that come while the reader is busy are
// folded into one value. When the watch breaks, one value is sent (the
// reader re-reads the state) and the watch starts again.
func (s *Store) WatchBucket(ctx context.Context, bucket string) <-chan struct{} {
	out := make(chan struct{}, 1)
	poke := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.stateKey(bucket, ""), clientv3.WithPrefix())
			for wr := range wch {
				if wr.Err() != nil {
					s.log.Warn("state watch broke", "bucket", bucket, "error", wr.Err())
					break
				}
				if len(wr.Events) > 0 {
					poke()
				}
			}
			poke()
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}()
	return out
}
