package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/builtin"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/playbooks/examples"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/metrics"
)

// Options are knobs for tests and benchmarks, not for the config file.
type Options struct {
	// NoDispatch accepts events but never processes them (crash tests).
	NoDispatch bool
	// NoSync turns off fsync (benchmarks of other layers only).
	NoSync bool
	// Now is the clock.
	Now func() time.Time
	// HTTPClient is used by webhook.notify.
	HTTPClient *http.Client
	// CertCheckInterval is how often the TLS certificate files are looked
	// at (web.DefaultCertCheckInterval when zero).
	CertCheckInterval time.Duration
}

// App is a running Firebreak server.
type App struct {
	Config   Config
	DB       store.Backend
	Engine   *engine.Engine
	Registry *actions.Registry
	// Actions holds the integrations behind the registry (the Slack client
	// approvals reuse, the firewall, the cluster).
	Actions *builtin.Built
	Web     *web.Server

	// res is the validated configuration's resolved values.
	res       *config.Resolved
	guard     *guard.Guard
	approvals *approvalsFeature
	reload    *reloader
	dlq       *dlqService
	// breakerReset takes Reset clicks on breaker messages in Slack; nil
	// unless guards.notify posts to Slack.
	breakerReset *slackBreakerReset
	metrics      *metrics.Metrics
	closers      []func() error
	// background holds functions started by Start once listening.
	background []func(ctx context.Context)
	// cluster is the etcd store in clustered mode (a.DB wraps it), nil on
	// a single node; leaderWork runs only while this replica leads.
	cluster    clusterStore
	leaderWork []func(ctx context.Context)
	opts       Options

	log  *slog.Logger
	ln   net.Listener
	http *http.Server
	// tls is the listener's TLS configuration; nil serves plain HTTP.
	tls      *tls.Config
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once
}

// LoadPlaybooks loads cfg.Playbooks, or the embedded examples when none are
// configured.
func LoadPlaybooks(cfg Config, reg *actions.Registry) (*playbooks.Set, string, error) {
	if len(cfg.Playbooks) == 0 {
		set, err := playbooks.LoadFS(reg, examples.FS, ".")
		return set, "embedded examples", err
	}
	set, err := playbooks.LoadPaths(reg, cfg.Playbooks...)
	return set, fmt.Sprint(cfg.Playbooks), err
}

// Start runs the server's lifecycle up to listening. The phases, in order:
//
//  1. load and validate the configuration (config.Validate): every section,
//     every secret, before any side effect; every problem at once;
//  2. open the store;
//  3. build the actions (the registry and its integrations) and re-install
//     recorded firewall blocks;
//  4. load the playbooks;
//  5. build the features the engine is built with: metrics and the audit
//     redactor, the guard, the approval gate, hot reload;
//  6. build the engine;
//  7. build the HTTP surface (web, which registers every route);
//  8. listen;
//  9. start the background work (engine dispatch, HTTP serving, approval
//     expiry, breaker notices, retention, reload triggers, access checks).
//
// Close undoes them in reverse: stop serving, stop the background work and
// let running steps finish, run the features' closers (last built first),
// close the store. A failing phase undoes the phases before it.
func Start(ctx context.Context, cfg Config, log *slog.Logger, opts Options) (*App, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// 1. Validate against the catalogue of built-in actions (guards.bounds
	// and guards.notify name them); nothing is opened yet.
	catalogue, err := Registry(opts, log)
	if err != nil {
		return nil, err
	}
	res, err := config.Validate(cfg, catalogue)
	if err != nil {
		return nil, err
	}
	// 2. The store: the bbolt file, or the etcd cluster (store.etcd).
	db, err := openStore(ctx, cfg, res, opts, log)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, DB: db, res: res, log: log, opts: opts}
	if cs, ok := db.(clusterStore); ok {
		a.cluster = cs
		db = leaderFenced{cs}
		a.DB = db
	}
	fail := func(err error) (*App, error) {
		_ = a.closeAll()
		_ = db.Close()
		return nil, err
	}
	// 3. The actions.
	built, err := buildActions(ctx, cfg, res, db, opts, log)
	if err != nil {
		return fail(err)
	}
	a.Actions, a.Registry = built, built.Registry
	for _, n := range built.Notices {
		log.Warn("action loaded in dry-run", "action", n.Action, "why", n.Why)
	}
	if built.Firewall != nil {
		// Clustered, the record is the cluster's: follow it both ways (a
		// block lifted elsewhere while this replica was down is lifted).
		restore := built.Firewall.Restore
		if a.cluster != nil {
			restore = built.Firewall.Reconcile
		}
		rep, err := restore(ctx)
		if err != nil {
			log.Error("re-installing recorded IP blocks failed", "error", err)
		} else {
			log.Info("recorded IP blocks checked", "restored", rep.Restored, "present", rep.Present, "expired", rep.Expired, "refused", rep.Refused, "lifted", rep.Lifted, "retimed", rep.Retimed)
		}
	}
	// 4. The playbooks, on the app's clock.
	set, where, err := LoadPlaybooks(cfg, a.Registry)
	if err != nil {
		return fail(err)
	}
	set.SetClock(opts.Now)
	// 5. What the engine is built with.
	// Metrics first: the audit redactor must be installed before any
	// feature writes a record. The others only add what the engine is
	// built with (guard, approver) and their background work.
	if err := setupMetrics(a); err != nil {
		return fail(err)
	}
	if err := setupGuards(a); err != nil {
		return fail(err)
	}
	if err := setupApprovals(a); err != nil {
		return fail(err)
	}
	if err := setupReload(a); err != nil {
		return fail(err)
	}
	if err := setupTLS(a); err != nil {
		return fail(err)
	}
	// 6. The engine.
	eng := engine.New(engine.Config{
		Store: db, Registry: a.Registry, Logger: log.With("component", "engine"),
		Workers: cfg.Workers, MaxActions: cfg.MaxConcurrentActions, DryRun: cfg.DryRun, ActOnStale: cfg.ActOnStale, MaxEventAge: res.MaxEventAge, Now: opts.Now,
		Guard: a.guard, Approver: a.approvals, Observer: a.metrics, HoldPaused: res.HoldPaused, DeadLetter: dlqSink{redact: redact(a.res)},
	})
	eng.SetPlaybooks(set)
	a.Engine = eng
	a.initMetrics(set)
	a.dlq = newDLQService(a)
	// 7. The HTTP surface.
	a.logSources()
	a.Web = web.New(a.webConfig())
	// 8. Listen.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(fmt.Errorf("listen %s: %w", cfg.Listen, err))
	}
	// 9. The background.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.ln, a.cancel = ln, cancel
	a.http = &http.Server{Handler: a.Web, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	a.http.TLSConfig = a.tls
	a.http.ErrorLog = slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn) // failed handshakes
	ln = web.LimitConnections(a.http, ln, cfg.HTTP)                                              // total and per-address caps
	a.Go(a.Web.Run)                                                                              // records the aggregated auth.failed counts
	a.startBackground(runCtx)
	if !opts.NoDispatch {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := eng.Run(runCtx); err != nil {
				log.Error("engine stopped", "error", err)
			}
		}()
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		var err error
		if a.tls != nil {
			// The certificate comes from GetCertificate; ServeTLS adds h2.
			err = a.http.ServeTLS(ln, "", "")
		} else {
			err = a.http.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()
	if built.Cluster != nil && built.Cluster.Client() != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			checkKubernetesAccess(runCtx, built.Cluster, set, log)
		}()
	}
	data := cfg.DBPath()
	if a.cluster != nil {
		data = fmt.Sprintf("etcd %v%s (node %s)", res.Etcd.Endpoints, res.Etcd.Prefix, a.cluster.Node())
	}
	log.Info("firebreak started",
		"listen", a.URL(), "data", data, "playbooks", set.Len(), "playbooks_from", where,
		"actions", a.Registry.IDs(), "dry_run", cfg.DryRun, "pending_events", db.PendingCount())
	return a, nil
}

// webConfig composes the HTTP surface from the built parts.
func (a *App) webConfig() web.Config {
	cfg, db := a.Config, a.DB
	redact := redact(a.res)
	openReads := len(a.res.Tokens) == 0 && config.LoopbackAddr(cfg.Listen)
	switch {
	case len(a.res.Tokens) == 0 && openReads:
		a.log.Warn("no api.tokens configured: read endpoints answer loopback clients only; operator and approver endpoints (pause, resume, breaker reset, reload, replay, approvals) refuse every request")
	case len(a.res.Tokens) == 0:
		a.log.Warn("no api.tokens configured: every /api/v1 endpoint refuses every request")
	}
	return web.Config{
		Inbox: db, Audit: db, Engine: a.Engine, Sources: a.res.Sources, Logger: a.log.With("component", "web"),
		MaxBodyBytes: cfg.MaxBodyBytes, MaxEventAge: a.res.MaxEventAge, Ready: db.Ready, Now: a.opts.Now,
		OnAuthFailure: func(rec audit.Record) { _ = db.Audit(context.Background(), rec) },
		HTTP:          cfg.HTTP,
		Tokens:        a.res.Tokens, OpenReads: openReads, AuditLog: db,
		Metrics: a.metrics, MetricsHandler: a.metrics.Handler(), Redact: redact,
		Guards:      a.guard,
		Approvals:   a.approvals,
		Slack:       a.slackConfig(),
		Timeline:    db,
		Replay:      &web.ReplayConfig{Source: db, Catalog: a.Registry, ActOnStale: cfg.ActOnStale, Redact: redact},
		Reloader:    a.reload,
		DeadLetters: a.dlq,
		Dashboard:   a.dashboardDeps(),
	}
}

// redact returns the audit redactor's record function, or nil.
func redact(res *config.Resolved) func(audit.Record) audit.Record {
	if res.Redactor == nil {
		return nil
	}
	return res.Redactor.Record
}

// slackConfig is /slack/interactions: approval buttons, and Reset buttons
// when breaker messages go to Slack. Both are verified with
// approvals.signing_secret.
func (a *App) slackConfig() *web.SlackConfig {
	sc := &web.SlackConfig{Decider: a.approvals, SigningSecret: a.res.SigningSecret}
	if a.breakerReset != nil {
		sc.Breakers = a.breakerReset
		if a.res.SigningSecret == "" {
			a.log.Warn("breaker messages go to slack with a Reset button but approvals.signing_secret is not set: every click will be refused")
		}
	}
	return sc
}

// logSources warns of every receiver that accepts unauthenticated requests.
func (a *App) logSources() {
	if a.res.DefaultSources {
		names := make([]string, 0, len(a.res.Sources))
		for name := range a.res.Sources {
			names = append(names, name)
		}
		sort.Strings(names)
		a.log.Warn("sources accept unauthenticated requests because none are configured; allowed only on a loopback listen address", "sources", strings.Join(names, ","), "listen", a.Config.Listen)
	}
	for _, name := range a.res.InsecureSources {
		a.log.Warn("source accepts unauthenticated requests (insecure: true)", "source", name)
	}
}

// Addr returns the address the server listens on.
func (a *App) Addr() string { return a.ln.Addr().String() }

// URL returns the server's base URL.
func (a *App) URL() string {
	if a.tls != nil {
		return "https://" + a.Addr()
	}
	return "http://" + a.Addr()
}

// Close stops accepting requests, lets running steps finish, and closes
// the store: Start's phases in reverse.
func (a *App) Close() error {
	a.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := a.http.Shutdown(ctx)
		a.cancel()
		a.wg.Wait()
		a.closeErr = errors.Join(err, a.closeAll(), a.DB.Close())
		a.log.Info("firebreak stopped")
	})
	return a.closeErr
}

// closeAll runs the features' closers in reverse order.
func (a *App) closeAll() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// Go runs fn in the background until the app closes; features use it for
// timers (approval expiry, block restoration, file watching).
func (a *App) Go(fn func(ctx context.Context)) {
	a.background = append(a.background, fn)
}

func (a *App) startBackground(ctx context.Context) {
	if a.cluster != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.runCluster(ctx)
		}()
	}
	for _, fn := range a.background {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			fn(ctx)
		}()
	}
}

// Logger returns the app's logger.
func (a *App) Logger() *slog.Logger { return a.log }

// Guard returns the guard the engine runs.
func (a *App) Guard() *guard.Guard { return a.guard }
