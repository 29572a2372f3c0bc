package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/firebreak/firebreak/store"
)

// Store is Firebreak's shared state in etcd. It is safe for concurrent use;
// each replica opens one.
type Store struct {
	// handoff holds the events this replica appended until its engine
	// loads them (Event), which then needs no read from etcd.
	handoff store.Handoff

	cli           *clientv3.Client
	prefix        string
	timeout       time.Duration
	log           *slog.Logger
	node          string
	ttl           time.Duration
	takeoverEvery time.Duration
	now           func() time.Time

	// bg lives until Close; the session and the loops run on it.
	bg     context.Context
	cancel context.CancelFunc

	reqs chan *appendReq
	ops  chan *updOp
	done chan struct{}
	wg   sync.WaitGroup

	sess atomic.Pointer[session]
	lost chan struct{} // a commit found the member key gone

	// mu guards the events this replica owns.
	mu        sync.Mutex
	owned     map[uint64]string // seq → owner (this session) of unfinished events
	fresh     []uint64          // accepted here, not returned by Pending yet, in order
	adopted   []uint64          // taken over, not returned by Pending yet
	delivered map[uint64]bool   // returned by Pending (and not finished)
	strays    map[uint64]bool
	takeovers chan struct{}
	kick      chan struct{}

	head   headCache
	hooks  auditHooks
	stats  statsBox
	health health
	leader atomic.Pointer[leaderState]
	elect  elector

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
	if cfg.Node == "" {
		if cfg.Node, err = os.Hostname(); err != nil || cfg.Node == "" {
			_ = cli.Close()
			return nil, fmt.Errorf("cluster.node is not set and the hostname is unknown: %v", err)
		}
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 10 * time.Second
	}
	if cfg.TakeoverInterval <= 0 {
		cfg.TakeoverInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	bg, bgCancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Store{
		cli: cli, prefix: cfg.Prefix + "/", timeout: cfg.RequestTimeout, log: cfg.Logger,
		node: cfg.Node, ttl: cfg.SessionTTL, takeoverEvery: cfg.TakeoverInterval, now: cfg.Now,
		bg: bg, cancel: bgCancel,
		reqs: make(chan *appendReq, 1024), ops: make(chan *updOp, maxUpdateBatch), done: make(chan struct{}),
		lost:  make(chan struct{}, 1),
		owned: map[uint64]string{}, delivered: map[uint64]bool{}, strays: map[uint64]bool{},
		takeovers: make(chan struct{}, 1), kick: make(chan struct{}, 1),
	}
	// One linearizable read proves a quorum answers before Open returns.
	rctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	_, err = cli.Get(rctx, s.key(keySeq))
	cancel()
	if err != nil {
		bgCancel()
		_ = cli.Close()
		return nil, fmt.Errorf("reach etcd at %v: %w", cfg.Endpoints, err)
	}
	se, err := s.newSession(ctx)
	if err != nil {
		bgCancel()
		_ = cli.Close()
		return nil, err
	}
	s.sess.Store(se)
	s.log.Info("etcd session started", "node", s.node, "fencing_token", se.token)
	s.wg.Add(4)
	go s.commitLoop()
	go s.updateLoop()
	go s.sessionLoop()
	go s.takeoverLoop()
	s.kickTakeover()
	return s, nil
}

// Close stops the loops (callers waiting get ErrClosed), resigns the
// leadership, ends the session (revoking its lease, so that other
// replicas take over this one's unfinished events at once) and closes the
// connection.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.stopCampaign()
		if se := s.sess.Swap(nil); se != nil {
			_ = se.cs.Close() // revokes the lease (bounded by its TTL)
		}
		s.cancel() // unblocks what still waits on etcd
		s.wg.Wait()
		err = s.cli.Close()
	})
	return err
}

// Key spaces under the prefix.
const (
	keySeq     = "meta/seq"  // the highest inbox sequence reserved, decimal
	keyKill    = "meta/kill" // the kill switch; present means paused
	dirInbox   = "inbox/"    // inbox/<seq, 20 digits> → event JSON
	dirSeen    = "seen/"     // seen/<event id> → its sequence
	dirClaim   = "claim/"    // claim/<step key> → owner, permanent
	dirHold    = "hold/"     // hold/<step key> → owner, on the owner's lease
	dirOutcome = "outcome/"  // outcome/<step key> → the committed outcome
	dirPending = "pending/"  // pending/<seq> → owner session of an unfinished event
	dirMembers = "members/"  // members/<node> → on the node's session lease
	dirState   = "state/"    // state/<bucket>/<key> → the engine's state (state.Tx)
	dirLeader  = "leader/"   // the election's keys
)

func (s *Store) key(k string) string { return s.prefix + k }

func (s *Store) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}
