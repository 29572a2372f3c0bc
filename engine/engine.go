package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/firebreak/firebreak/engine/audit"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
)

// Store is what the engine needs of the store.
type Store interface {
	// Pending lists unfinished inbox sequences greater than after.
	Pending(ctx context.Context, after uint64, limit int) ([]uint64, error)
	// Event loads an inbox event.
	Event(ctx context.Context, seq uint64) (event.Event, error)
	// Update runs fn in a durable, atomic transaction.
	Update(ctx context.Context, fn func(state.Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(state.Tx) error) error
}

// AuditPreparer is a Store that can redact and encode an audit record
// ahead of the transaction that writes it (audit.Prepare), so that its
// one serial writer does less per record. The bbolt store is one.
type AuditPreparer interface {
	PrepareAudit(rec audit.Record) audit.Record
}

// PendingNotifier is a Store that makes accepted events pending after the
// receiver has acknowledged them (the bbolt store moves them from its
// write-ahead log): Run registers Notify with it, so that the engine hears
// of them when they can be read.
type PendingNotifier interface {
	AddPendingHook(fn func()) (remove func())
}

// prepare readies r for the trail outside the transaction, when the store
// can.
func (e *Engine) prepare(r audit.Record) audit.Record {
	if p, ok := e.cfg.Store.(AuditPreparer); ok {
		return p.PrepareAudit(r)
	}
	return r
}

// Config configures an Engine.
type Config struct {
	Store    Store
	Registry *actions.Registry
	Logger   *slog.Logger
	// Workers bounds how many events are processed at once (default
	// DefaultWorkers). Events of the same alert (fingerprint) always go to
	// the same worker, in order.
	Workers int
	// MaxActions bounds how many action runs (dry runs included) are under
	// way at once, over all workers (default DefaultMaxActions): a worker
	// whose step is due to run waits for a slot. Workers mostly wait for
	// commits, so there are many of them; this keeps what Firebreak does
	// to other systems at once to a number an operator chose.
	MaxActions int
	// DryRun makes every step a dry run.
	DryRun bool
	// ActOnStale lets steps run for stale events (default: audit only).
	ActOnStale bool
	// MaxEventAge makes a firing event stale once its alert started longer
	// ago than this, judged with Now when the event is processed and again
	// before each step runs (after an approval too); 0 never does. An
	// event the receiver already marked stale (Event.Stale) stays stale.
	MaxEventAge time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Guard checks every changing step before it runs; nil allows all.
	Guard Guard
	// Approver parks steps that need a human; nil refuses them.
	Approver Approver
	// Observer receives metrics; nil discards them.
	Observer Observer
	// DeadLetter receives steps that failed for good; nil keeps only the
	// step.failed record.
	DeadLetter DeadLetter
	// HoldPaused (guards.on_pause: hold) parks a step the kill switch
	// refuses instead of dropping it, and runs it when execution resumes,
	// unless the event is stale by then. The guard must implement
	// PauseChecker for the engine to see the resume.
	HoldPaused bool
	// Sleep waits between retries; tests replace it (default: a timer that
	// honours ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Engine processes inbox events. Create it with New and start it with Run.
type Engine struct {
	cfg       Config
	log       *slog.Logger
	playbooks atomic.Pointer[playbooks.Set]
	kick      chan struct{}
	processed atomic.Uint64
	// held is set while steps may be held for a resume; releasing is set
	// while releaseHeld runs.
	held      atomic.Bool
	releasing atomic.Bool
	// slots holds one token per action run under way (MaxActions).
	slots chan struct{}
}

// DefaultWorkers is the default of Config.Workers. Each worker waits for
// its event's commits, so the workers bound how many of them share one
// group commit: with 8, BenchmarkEngine/shadow/fsync made 0.5 commits per
// event; with 32, 0.13, at 0.6x the CPU per event (each commit rewrites
// the pages it touches and costs two fsyncs, however little it carries);
// with 256, 0.034, at 0.7-0.8x the CPU of 32 and 1.5-1.9x its events/s
// (512 gained little more). What a worker holds is an event and a
// goroutine; how many actions run at once is MaxActions.
const DefaultWorkers = 256

// DefaultMaxActions is the default of Config.MaxActions: the number of
// workers before workers and running actions had separate bounds.
const DefaultMaxActions = 32

// queuedEvents bounds the events loaded and waiting in the workers'
// queues, over all workers (what Run holds in memory beyond those being
// processed).
const queuedEvents = 512

// New returns an engine; it does nothing until Run.
func New(cfg Config) *Engine {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxActions <= 0 {
		cfg.MaxActions = DefaultMaxActions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	return &Engine{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), slots: make(chan struct{}, cfg.MaxActions)}
}

// SetPlaybooks installs a new playbook set atomically; events already being
// processed finish with the set they started with.
func (e *Engine) SetPlaybooks(s *playbooks.Set) { e.playbooks.Store(s) }

// Playbooks returns the installed set, or nil.
func (e *Engine) Playbooks() *playbooks.Set { return e.playbooks.Load() }

// Notify tells the engine that new events are in the inbox, or that
// execution resumed (steps held while paused may run).
func (e *Engine) Notify() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// NotifyResumed tells the engine that execution resumed, possibly on
// another replica sharing the store: the steps held while paused run now,
// whoever held them. Notify alone only runs the held steps this engine
// knows it held (or found at start).
func (e *Engine) NotifyResumed() {
	e.held.Store(e.cfg.HoldPaused)
	e.Notify()
}

// Processed returns how many events the engine has finished since start.
func (e *Engine) Processed() uint64 { return e.processed.Load() }

// Run drains the inbox until ctx ends: at start it resumes whatever was
// accepted but not finished, then it waits for Notify. It returns after the
// workers have finished the events they hold.
func (e *Engine) Run(ctx context.Context) error {
	if e.playbooks.Load() == nil {
		return ErrNoPlaybooks
	}
	queues := make([]chan queued, e.cfg.Workers)
	var wg sync.WaitGroup
	// Workers use their own context: a shutdown stops feeding new events
	// but lets an action that is running finish within its timeout.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	for i := range queues {
		queues[i] = make(chan queued, max(queuedEvents/e.cfg.Workers, 2))
		wg.Add(1)
		go func(q chan queued) {
			defer wg.Done()
			for it := range q {
				e.processRetrying(ctx, workCtx, it)
			}
		}(queues[i])
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}()

	if n, ok := e.cfg.Store.(PendingNotifier); ok {
		defer n.AddPendingHook(e.Notify)()
	}
	// Steps held while paused by an earlier run may be releasable now.
	e.held.Store(e.cfg.HoldPaused)
	var cursor uint64
	// unloaded holds inbox events the cursor passed but that could not be
	// loaded (a store error): they are tried again, with backoff, rather
	// than left pending until a restart.
	unloaded := map[uint64]*retryState{}
	ticker := time.NewTicker(5 * time.Second)
	defer ticker.Stop()
	for {
		for seq, rs := range unloaded {
			if e.cfg.Now().Before(rs.due) {
				continue
			}
			ev, err := e.cfg.Store.Event(ctx, seq)
			if err != nil {
				rs.attempt++
				rs.due = e.cfg.Now().Add(Backoff(rs.attempt))
				e.log.Error("loading an inbox event failed again; will retry", "seq", seq, "attempt", rs.attempt, "error", err)
				continue
			}
			delete(unloaded, seq)
			select {
			case queues[shard(ev.Fingerprint, ev.ID, len(queues))] <- queued{seq: seq, ev: ev}:
			case <-ctx.Done():
				return nil
			}
		}
		for {
			seqs, err := e.cfg.Store.Pending(ctx, cursor, 256)
			if err != nil {
				e.log.Error("reading the inbox failed", "error", err)
				break
			}
			if len(seqs) == 0 {
				break
			}
			for _, seq := range seqs {
				ev, err := e.cfg.Store.Event(ctx, seq)
				if err != nil {
					e.log.Error("loading an inbox event failed; will retry", "seq", seq, "error", err)
					unloaded[seq] = &retryState{attempt: 1, due: e.cfg.Now().Add(Backoff(1))}
					cursor = seq
					continue
				}
				q := queues[shard(ev.Fingerprint, ev.ID, len(queues))]
				select {
				case q <- queued{seq: seq, ev: ev}:
				case <-ctx.Done():
					return nil
				}
				cursor = seq
			}
		}
		if e.held.Load() && e.releasing.CompareAndSwap(false, true) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer e.releasing.Store(false)
				n, err := e.releaseHeld(ctx, workCtx)
				if err != nil {
					e.held.Store(true)
					e.log.Error("running the steps held while paused failed; will retry", "error", err)
				}
				if n > 0 {
					e.log.Info("ran the steps held while paused", "steps", n)
				}
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.kick:
		case <-ticker.C:
		}
	}
}

// retryState is when a failed inbox event is tried next.
type retryState struct {
	attempt int
	due     time.Time
}

// processRetrying processes one event and, when that fails (a store
// error: a full disk, a commit that failed), tries again with Backoff
// (capped at a minute) until it succeeds or stop ends (shutdown: the event
// stays pending in the inbox for the next start). Retrying in the worker
// keeps the events of one alert in order. Processing is idempotent: a
// retry writes no duplicate records and re-runs no started step.
func (e *Engine) processRetrying(stop, work context.Context, it queued) {
	for attempt := 1; ; attempt++ {
		err := e.process(work, it.seq, it.ev)
		if err == nil {
			return
		}
		if errors.Is(err, ErrClaimLost) {
			// Another session owns the event now (it was taken over, or
			// will be by this replica's new session): it processes it.
			e.log.Warn("a step's claim was lost while it ran; its outcome is not recorded, the event is left to its new owner", "seq", it.seq, "error", err)
			return
		}
		if stop.Err() != nil {
			e.log.Error("processing event failed; it stays in the inbox", "seq", it.seq, "error", err)
			return
		}
		delay := Backoff(attempt)
		e.log.Error("processing event failed; will retry", "seq", it.seq, "attempt", attempt, "delay", delay.String(), "error", err)
		if e.cfg.Sleep(stop, delay) != nil {
			return
		}
	}
}

// queued is an inbox event on its way to a worker; it was loaded once, to
// pick the worker, and is not decoded again.
type queued struct {
	seq uint64
	ev  event.Event
}

func shard(fingerprint, id string, n int) int {
	h := fnv.New32a()
	if fingerprint != "" {
		h.Write([]byte(fingerprint))
	} else {
		h.Write([]byte(id))
	}
	return int(h.Sum32() % uint32(n))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errRefused is not an error of processing: the step was refused by a guard.
var errStop = errors.New("stop playbook")

// errScratchWrite: a claim function tried a write a scratch view does not
// keep (scratchTx).
var errScratchWrite = errors.New("write not supported in a scratch view")

func wrapf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}
