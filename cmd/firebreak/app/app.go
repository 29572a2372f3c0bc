// Package app wires Firebreak's parts into a running server: store, action
// registry, playbooks, engine and HTTP. It lives apart from main so that
// tests start the whole server in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/builtin"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/playbooks/examples"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
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
}

// App is a running Firebreak server.
type App struct {
	Config   Config
	DB       *store.DB
	Engine   *engine.Engine
	Registry *actions.Registry
	// Actions holds the integrations behind the registry (the Slack client
	// approvals reuse, the firewall, the cluster).
	Actions *builtin.Built
	Web     *web.Server

	// Set by the feature wiring (wire_*.go) before the engine is built.
	guard    engine.Guard
	approver engine.Approver
	// reload swaps in a new playbook set (wire_reload.go).
	reload   *reloader
	observer engine.Observer
	closers  []func() error
	// background holds functions started by Start once listening.
	background []func(ctx context.Context)
	opts       Options

	log      *slog.Logger
	ln       net.Listener
	http     *http.Server
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

// Start opens the store, loads playbooks, starts the engine and listens.
func Start(ctx context.Context, cfg Config, log *slog.Logger, opts Options) (*App, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := store.Open(cfg.DBPath(), store.Options{NoSync: opts.NoSync, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	built, err := buildActions(ctx, cfg, db, opts, log)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	reg := built.Registry
	for _, n := range built.Notices {
		log.Warn("action loaded in dry-run", "action", n.Action, "why", n.Why)
	}
	if built.Firewall != nil {
		rep, err := built.Firewall.Restore(ctx)
		if err != nil {
			log.Error("re-installing recorded IP blocks failed", "error", err)
		} else {
			log.Info("recorded IP blocks checked", "restored", rep.Restored, "present", rep.Present, "expired", rep.Expired, "refused", rep.Refused)
		}
	}
	set, where, err := LoadPlaybooks(cfg, reg)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	a := &App{Config: cfg, DB: db, Registry: reg, Actions: built, log: log, opts: opts}
	// Each feature wires itself in its own file, before the engine exists
	// (what the engine is built with) and after the router exists (routes).
	for _, setup := range []func(*App) error{setupMetrics, setupGuards, setupApprovals, setupReload} {
		if err := setup(a); err != nil {
			_ = a.closeAll()
			_ = db.Close()
			return nil, err
		}
	}
	eng := engine.New(engine.Config{
		Store: db, Registry: reg, Logger: log.With("component", "engine"),
		Workers: cfg.Workers, DryRun: cfg.DryRun, ActOnStale: cfg.ActOnStale, Now: opts.Now,
		Guard: a.guard, Approver: a.approver, Observer: a.observer,
	})
	eng.SetPlaybooks(set)
	a.Engine = eng

	srcs, err := buildSources(cfg, log)
	if err != nil {
		_ = a.closeAll()
		_ = db.Close()
		return nil, err
	}
	var maxAge time.Duration
	if cfg.MaxEventAge != nil {
		maxAge = time.Duration(*cfg.MaxEventAge)
	}
	srv := web.New(web.Config{
		Inbox: db, Audit: db, Engine: eng, Sources: srcs, Logger: log.With("component", "web"),
		MaxBodyBytes: cfg.MaxBodyBytes, MaxEventAge: maxAge, Ready: db.Ready, Now: opts.Now, ReadAuth: a.readAuth(),
		OnAuthFailure: func(source, remote string, err error) {
			_ = db.Audit(context.Background(), audit.Record{Kind: audit.KindAuthFailed, Source: source, Outcome: "unauthorized", Message: err.Error(), Actor: remote})
		},
	})

	a.Web = srv
	for _, routes := range []func(*App){routesMetrics, routesGuards, routesApprovals, routesReload, routesDashboard} {
		routes(a)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = a.closeAll()
		_ = db.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.ln, a.cancel = ln, cancel
	a.http = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
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
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()
	if built.Cluster != nil && built.Cluster.Client() != nil {
		a.Go(func(ctx context.Context) { checkKubernetesAccess(ctx, built.Cluster, set, log) })
	}
	log.Info("firebreak started",
		"listen", "http://"+ln.Addr().String(), "data", cfg.DBPath(), "playbooks", set.Len(), "playbooks_from", where,
		"actions", reg.IDs(), "dry_run", cfg.DryRun, "pending_events", db.PendingCount())
	return a, nil
}

// Addr returns the address the server listens on.
func (a *App) Addr() string { return a.ln.Addr().String() }

// URL returns the server's base URL.
func (a *App) URL() string { return "http://" + a.Addr() }

// Close stops accepting requests, lets running steps finish, and closes
// the store.
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
