package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Store is Firebreak's shared state in etcd. It is safe for concurrent use;
// each replica opens one.
type Store struct {
	cli     *clientv3.Client
	prefix  string
	timeout time.Duration
	log     *slog.Logger

	reqs chan *appendReq
	done chan struct{}
	wg   sync.WaitGroup

	closeOnce sync.Once
}

// Open connects to the etcd cluster of cfg and starts the inbox's commit
// loop. It checks the configuration first and returns every problem at once.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	pw, err := cfg.password()
	if err != nil {
		return nil, err
	}
	tlsc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		TLS:                  tlsc,
		Username:             cfg.Username,
		Password:             pw,
		Context:              context.WithoutCancel(ctx),
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd: %w", err)
	}
	s := &Store{
		cli: cli, prefix: cfg.Prefix + "/", timeout: cfg.RequestTimeout, log: cfg.Logger,
		reqs: make(chan *appendReq, 1024), done: make(chan struct{}),
	}
	// One linearizable read proves a quorum answers before Open returns.
	rctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	_, err = cli.Get(rctx, s.key(keySeq))
	cancel()
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("reach etcd at %v: %w", cfg.Endpoints, err)
	}
	s.wg.Add(1)
	go s.commitLoop()
	return s, nil
}

// Close stops the commit loop (callers waiting get ErrClosed) and closes
// the connection.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.wg.Wait()
		err = s.cli.Close()
	})
	return err
}

// Key spaces under the prefix.
const (
	keySeq     = "meta/seq"  // the last inbox sequence, decimal
	keyKill    = "meta/kill" // the kill switch; present means paused
	dirInbox   = "inbox/"    // inbox/<seq, 20 digits> → event JSON
	dirSeen    = "seen/"     // seen/<event id> → its sequence
	dirClaim   = "claim/"    // claim/<step key> → owner, permanent
	dirHold    = "hold/"     // hold/<step key> → owner, on the owner's lease
	dirOutcome = "outcome/"  // outcome/<step key> → the committed outcome
)

func (s *Store) key(k string) string { return s.prefix + k }

func (s *Store) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}
