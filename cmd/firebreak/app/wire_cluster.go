package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
	fbetcd "github.com/firebreak/firebreak/store/etcd"
)

// clusterStore is what clustered mode needs of the etcd store beyond
// store.Backend: the leader election of the timers and the takeover
// notices. *fbetcd.Store implements it.
type clusterStore interface {
	store.Backend
	// Node is this replica's name.
	Node() string
	// Campaign starts the candidacy for leader; IsLeader and
	// LeaderChanges tell the outcome.
	Campaign()
	IsLeader() bool
	LeaderChanges() <-chan bool
	// UpdateAsLeader is Update whose commit also compares the leader key.
	UpdateAsLeader(ctx context.Context, fn func(state.Tx) error) error
	// Takeovers receives when events of a dead replica became this one's.
	Takeovers() <-chan struct{}
	// WatchBucket receives when a key of the state bucket changed on any
	// replica.
	WatchBucket(ctx context.Context, bucket string) <-chan struct{}
}

// guardControlBucket is the guard's state bucket of the kill switch
// (engine/guard's bucketControl), which every replica watches.
const guardControlBucket = "guard_control"

var _ clusterStore = (*fbetcd.Store)(nil)

// passwordEnv carries a store.etcd password given literally or by file
// to the etcd store, which only reads one from the environment
// (fbetcd.Config.PasswordEnv); it is set for the duration of Open only.
const passwordEnv = "FIREBREAK_ETCD_PASSWORD_RESOLVED"

// openStore opens the bbolt file of data_dir, or the etcd store when
// store.etcd is set.
func openStore(ctx context.Context, cfg Config, res *config.Resolved, opts Options, log *slog.Logger) (store.Backend, error) {
	if res.Etcd == nil {
		return store.Open(cfg.DBPath(), store.Options{NoSync: opts.NoSync, Now: opts.Now, WAL: cfg.Store.WriteAheadLog})
	}
	return OpenEtcd(ctx, *res.Etcd, res.Node, opts.Now, log)
}

// openMu serialises the password hand-over of OpenEtcd.
var openMu sync.Mutex

// OpenEtcd opens the clustered store e (validated by config.Validate) as
// replica node. The CLI uses it too.
func OpenEtcd(ctx context.Context, e config.Etcd, node string, now func() time.Time, log *slog.Logger) (*fbetcd.Store, error) {
	ec := fbetcd.Config{
		Endpoints: e.Endpoints, Prefix: e.Prefix, Username: e.Username, Node: node, Now: now,
		Logger: log.With("component", "etcd"),
	}
	if e.CAFile != "" || e.CertFile != "" {
		ec.TLS = &fbetcd.TLSConfig{CAFile: e.CAFile, CertFile: e.CertFile, KeyFile: e.KeyFile}
	}
	if e.Password != "" {
		openMu.Lock()
		defer openMu.Unlock()
		if err := os.Setenv(passwordEnv, e.Password); err != nil {
			return nil, fmt.Errorf("store.etcd.password: %w", err)
		}
		defer os.Unsetenv(passwordEnv)
		ec.PasswordEnv = passwordEnv
	}
	if t, err := time.ParseDuration(os.Getenv("FIREBREAK_ETCD_SESSION_TTL")); err == nil && t > 0 {
		// Tests shorten the session so that a killed replica's events
		// are taken over within seconds; not a config key.
		ec.SessionTTL = t
	}
	s, err := fbetcd.Open(ctx, ec)
	if err != nil {
		return nil, fmt.Errorf("open the etcd store at %v: %w", e.Endpoints, err)
	}
	return s, nil
}

// leaderKey marks a context of the leader's timers: Updates made with it
// commit through UpdateAsLeader.
type leaderKey struct{}

// leaderFenced is the store the app is composed against in clustered
// mode: every call goes to the etcd store, and an Update made from a
// leader timer's context also compares the leader key, so a deposed
// leader's approval expiry, breaker sweep or notices commit nothing.
type leaderFenced struct{ clusterStore }

func (l leaderFenced) Update(ctx context.Context, fn func(state.Tx) error) error {
	if ctx.Value(leaderKey{}) != nil {
		return l.UpdateAsLeader(ctx, fn)
	}
	return l.clusterStore.Update(ctx, fn)
}

// GoLeader runs fn like Go on a single node; in clustered mode fn runs only
// while this replica leads, with a context that ends when it stops leading
// and whose Updates are leader-fenced. Timers use it: approval expiry,
// breaker notices and sweeps, retention, checkpoint signing.
func (a *App) GoLeader(fn func(ctx context.Context)) {
	if a.cluster == nil {
		a.Go(fn)
		return
	}
	a.leaderWork = append(a.leaderWork, fn)
}

// runCluster is clustered mode's background work: it campaigns for leader
// and runs the leader's timers while it leads, tells the engine of
// taken-over events and of a resume made on another replica, and keeps the
// host's firewall in step with the cluster's blocks.
func (a *App) runCluster(ctx context.Context) {
	cs := a.cluster
	changes := cs.LeaderChanges()
	cs.Campaign()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.followCluster(ctx)
	}()
	var stop context.CancelFunc
	var leading sync.WaitGroup
	log := a.log.With("component", "cluster", "node", cs.Node())
	for {
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
				leading.Wait()
			}
			return
		case lead := <-changes:
			switch {
			case lead && stop == nil:
				log.Info("this replica leads: the timers run here")
				var lctx context.Context
				lctx, stop = context.WithCancel(context.WithValue(ctx, leaderKey{}, true))
				for _, fn := range a.leaderWork {
					leading.Add(1)
					go func() {
						defer leading.Done()
						fn(lctx)
					}()
				}
			case !lead && stop != nil:
				log.Warn("this replica no longer leads: its timers stop")
				stop()
				leading.Wait()
				stop = nil
			}
		}
	}
}

// pollEvery is how often a replica looks at the shared kill switch and
// the cluster's IP blocks.
const pollEvery = time.Second

// firewallEvery is how many polls apart the firewall is reconciled.
const firewallEvery = 10

// followCluster tells the engine of events taken over from a dead replica
// (they are pending here now), and of a resume (steps held while paused,
// wherever they were held, may run); and re-installs the cluster's IP
// blocks in this host's nftables (adding, lifting and retiming to match).
// A resume is seen at once through the watch of the kill switch's bucket (a
// pause shorter than a poll included), and by the poll should the watch lag.
func (a *App) followCluster(ctx context.Context) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	control := a.cluster.WatchBucket(ctx, guardControlBucket)
	wasPaused := false
	ticks := 0
	log := a.log.With("component", "cluster")
	for {
		changed := false
		select {
		case <-ctx.Done():
			return
		case <-a.cluster.Takeovers():
			a.Engine.Notify()
			continue
		case _, ok := <-control:
			if !ok {
				control = nil // ctx ended
				continue
			}
			changed = true
		case <-t.C:
			ticks++
		}
		if a.guard != nil {
			st, err := a.guard.PauseStatus(ctx)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					log.Debug("reading the kill switch failed", "error", err)
				}
			case !st.Paused && (wasPaused || changed):
				// Resumed, here or on another replica.
				a.Engine.NotifyResumed()
				wasPaused = false
			default:
				wasPaused = st.Paused
			}
		}
		if changed {
			continue
		}
		if fw := a.Actions.Firewall; fw != nil && ticks%firewallEvery == 0 {
			rep, err := fw.Reconcile(ctx)
			switch {
			case err != nil && !errors.Is(err, context.Canceled):
				log.Error("reconciling this host's IP blocks with the cluster's failed", "error", err)
			case rep.Restored > 0 || rep.Refused > 0 || rep.Lifted > 0 || rep.Retimed > 0:
				log.Info("IP blocks reconciled with the cluster's", "restored", rep.Restored, "expired", rep.Expired,
					"refused", rep.Refused, "lifted", rep.Lifted, "retimed", rep.Retimed)
			}
		}
	}
}
