package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"path"
	"sync"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/internal/cidr"
	"github.com/firebreak/firebreak/playbooks"
)

// Reasons the guards refuse a step: the guard's part of the engine's
// catalogue (engine.Reason), which documents each.
const (
	ReasonPaused          = engine.ReasonPaused
	ReasonProtected       = engine.ReasonProtected
	ReasonDeduped         = engine.ReasonDeduped
	ReasonBudgetExhausted = engine.ReasonBudgetExhausted
	ReasonBreakerOpen     = engine.ReasonBreakerOpen
	ReasonGuardError      = engine.ReasonGuardError
)

// Audit record kinds written by the guards themselves; the catalogue, with
// what each means, is engine/audit's.
const (
	KindBreakerOpened   = audit.KindBreakerOpened
	KindBreakerHalfOpen = audit.KindBreakerHalfOpen
	KindBreakerClosed   = audit.KindBreakerClosed
	KindBreakerReset    = audit.KindBreakerReset
	KindBreakerNotified = audit.KindBreakerNotified
	KindPaused          = audit.KindPaused
	KindResumed         = audit.KindResumed
)

// State buckets. Dry runs use the shadow copies of the window buckets, so a
// shadow playbook's audit predicts what a live one would do without using
// up the live windows and budgets.
const (
	bucketControl = "guard_control" // "pause" → pauseRecord
	bucketBreaker = "guard_breaker" // breaker id → breakerRecord
	bucketFP      = "guard_fp"      // playbook|fingerprint → fpIndex, for Resolved
	bucketOutbox  = "guard_outbox"  // time-ordered key → Notification
	livePrefix    = "guard_"
	shadowPrefix  = "guard_shadow_"
	nsDedupe      = "dedupe" // playbook|dedupe key → dedupeRecord
	nsBudget      = "budget" // playbook|target → budgetRecord
	nsGlobal      = "global" // "caps" → globalRecord
)

// Store is what the guard's own operations (API, sweeping, notification
// delivery) need of the store.
type Store interface {
	Update(ctx context.Context, fn func(state.Tx) error) error
	View(ctx context.Context, fn func(state.Tx) error) error
}

// Rate is a cap of Count per Window; a zero Count means no cap.
type Rate struct {
	Count  int
	Window time.Duration
}

// Bound limits one integer parameter of an action; nil ends are open.
type Bound struct {
	Min *int
	Max *int
}

// Config configures a Guard.
type Config struct {
	// Store serves the guard's own operations; Check, Observe and Resolved
	// use the transaction the engine gives them.
	Store Store
	// Registry tells which actions are destructive.
	Registry *actions.Registry
	// ProtectedNamespaces are path.Match patterns ("kube-*") of namespaces
	// no step may touch.
	ProtectedNamespaces []string
	// ProtectedLabels are label selectors ("tier=db,env!=dev", "protected")
	// matched against the event's labels.
	ProtectedLabels []string
	// ProtectedCIDRs are address ranges (or single addresses) no step may
	// target.
	ProtectedCIDRs []string
	// Bounds limits integer parameters per action id and parameter name.
	Bounds map[string]map[string]Bound
	// MaxActions caps acting runs across all playbooks per window.
	MaxActions Rate
	// MaxTargets caps the distinct targets acted on across all playbooks
	// per window.
	MaxTargets Rate
	// Paused is the configuration file's kill switch; while set, Resume
	// refuses.
	Paused bool
	// Notifier is told when a breaker opens; nil only logs.
	Notifier Notifier
	Logger   *slog.Logger
}

// Guard implements engine.Guard over the store's state. It is safe for
// concurrent use.
type Guard struct {
	cfg        Config
	log        *slog.Logger
	namespaces []string
	selectors  []selector
	prefixes   []netip.Prefix
	kick       chan struct{}

	destructive sync.Map // action id → bool
	hasDestr    sync.Map // playbook name|hash → bool
}

var (
	_ engine.Guard        = (*Guard)(nil)
	_ engine.PauseChecker = (*Guard)(nil)
)

// New validates cfg and returns a Guard.
func New(cfg Config) (*Guard, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Guard{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}
	for _, ns := range cfg.ProtectedNamespaces {
		if _, err := path.Match(ns, ""); err != nil || ns == "" {
			return nil, fmt.Errorf("protected namespace %q is not a valid pattern: %w", ns, ErrInvalidConfig)
		}
		g.namespaces = append(g.namespaces, ns)
	}
	for _, s := range cfg.ProtectedLabels {
		sel, err := parseSelector(s)
		if err != nil {
			return nil, fmt.Errorf("protected label selector %q: %v: %w", s, err, ErrInvalidConfig)
		}
		g.selectors = append(g.selectors, sel)
	}
	for _, c := range cfg.ProtectedCIDRs {
		p, err := cidr.Parse(c)
		if err != nil {
			return nil, fmt.Errorf("protected cidr %q: %w", c, ErrInvalidConfig)
		}
		g.prefixes = append(g.prefixes, p)
	}
	for id, params := range cfg.Bounds {
		for name, b := range params {
			if b.Min != nil && b.Max != nil && *b.Min > *b.Max {
				return nil, fmt.Errorf("bounds of %s.%s: min %d is above max %d: %w", id, name, *b.Min, *b.Max, ErrInvalidConfig)
			}
		}
	}
	for _, r := range []Rate{cfg.MaxActions, cfg.MaxTargets} {
		if r.Count < 0 || (r.Count > 0 && r.Window <= 0) {
			return nil, fmt.Errorf("global cap %d/%s: %w", r.Count, r.Window, ErrInvalidConfig)
		}
	}
	return g, nil
}

// class says which guards apply to a step.
type class struct {
	// changes: the step changes something (a destructive action, or the
	// acting step of a playbook without destructive steps): protected
	// targets apply.
	changes bool
	// acting: the step counts as a run of the playbook on its target:
	// budgets, global caps and the breaker apply.
	acting bool
}

// classify decides which guards apply to p. Destructive steps of the
// steps phase act; a playbook with no destructive step at all (a webhook
// that triggers automation elsewhere) acts through its first step.
// on_resolved steps undo or report what a run did: they are never
// deduped, budgeted or held by a breaker, but destructive ones are still
// checked against protected targets.
func (g *Guard) classify(p *engine.Plan) class {
	d := g.isDestructive(p.Step.Action, p.Action)
	if p.Phase != engine.PhaseSteps {
		return class{changes: d}
	}
	if d {
		return class{changes: true, acting: true}
	}
	if p.Step.Index == 0 && !g.playbookHasDestructive(p.Playbook) {
		return class{changes: true, acting: true}
	}
	return class{}
}

func (g *Guard) isDestructive(id string, a actions.Action) bool {
	if v, ok := g.destructive.Load(id); ok {
		return v.(bool)
	}
	if a == nil && g.cfg.Registry != nil {
		a, _ = g.cfg.Registry.Get(id)
	}
	if a == nil {
		return false
	}
	d := a.Spec().Destructive
	g.destructive.Store(id, d)
	return d
}

func (g *Guard) playbookHasDestructive(pb *playbooks.Playbook) bool {
	key := pb.Name + "|" + pb.Hash
	if v, ok := g.hasDestr.Load(key); ok {
		return v.(bool)
	}
	has := false
	for _, st := range pb.Steps {
		if g.isDestructive(st.Action, nil) {
			has = true
			break
		}
	}
	g.hasDestr.Store(key, has)
	return has
}

// put is one state write that Check applies only when it allows the step.
type put struct {
	bucket, key string
	value       []byte
}

// Check implements engine.Guard. The guards run in this order: paused,
// protected, deduped, budget_exhausted, breaker_open; the first refusal is
// returned. State (dedupe window, budget slots, a half-open trial) is
// written only when every guard allows the step; a breaker that opens
// while being checked is written even though the step is refused. Dry runs
// read and write the shadow copies of the window state and only read the
// live breaker.
func (g *Guard) Check(tx state.Tx, p *engine.Plan) (engine.Verdict, error) {
	v, err := g.check(tx, p)
	if err == nil && !v.Allowed() && p.DryRun {
		why := p.DryRunWhy
		if why == "" {
			why = "dry run"
		}
		v.Message = "would be refused (" + why + "): " + v.Message
	}
	return v, err
}

func (g *Guard) check(tx state.Tx, p *engine.Plan) (engine.Verdict, error) {
	now := tx.Now()
	if v, err := g.checkPaused(tx); err != nil || !v.Allowed() {
		return v, err
	}
	c := g.classify(p)
	if v := g.checkBounds(p); !v.Allowed() {
		return v, nil
	}
	if c.changes {
		if v := g.checkProtected(p); !v.Allowed() {
			return v, nil
		}
	}
	prefix := livePrefix
	if p.DryRun {
		prefix = shadowPrefix
	}
	var puts []put
	if p.Phase == engine.PhaseSteps {
		v, err := g.checkDedupe(tx, prefix, p, now, &puts)
		if err != nil || !v.Allowed() {
			return v, err
		}
	}
	if c.acting {
		target := p.Target.String()
		v, err := g.checkBudget(tx, prefix, p, target, now, &puts)
		if err != nil || !v.Allowed() {
			return v, err
		}
		v, err = g.checkGlobal(tx, prefix, p, target, now, &puts)
		if err != nil || !v.Allowed() {
			return v, err
		}
		if p.Playbook.Breaker != nil {
			v, err := g.checkBreaker(tx, p, target, now, &puts)
			if err != nil || !v.Allowed() {
				return v, err
			}
		}
	}
	for _, w := range puts {
		if w.bucket == "" {
			continue
		}
		if err := tx.Put(w.bucket, w.key, w.value); err != nil {
			return engine.Verdict{}, fmt.Errorf("guard state: %w", err)
		}
	}
	return engine.Verdict{}, nil
}

// Observe implements engine.Guard: it feeds the breaker of an acting step
// with the step's outcome. Dry runs are never observed by the engine.
func (g *Guard) Observe(tx state.Tx, p *engine.Plan, runErr error) error {
	if p.DryRun || p.Playbook.Breaker == nil || !g.classify(p).acting {
		return nil
	}
	return g.observeBreaker(tx, p, p.Target.String(), tx.Now(), runErr)
}

// Resolved implements engine.Guard: runs of pb whose alert (by
// fingerprint) resolved are marked cleared for their breakers.
func (g *Guard) Resolved(tx state.Tx, pb *playbooks.Playbook, ev *event.Event) error {
	if pb.Breaker == nil || pb.Breaker.Verify <= 0 || ev.Fingerprint == "" {
		return nil
	}
	return g.resolveBreakerRuns(tx, pb, ev.Fingerprint, tx.Now())
}

// refuse builds a refusal verdict.
func refuse(reason engine.Reason, format string, args ...any) engine.Verdict {
	return engine.Verdict{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func getJSON(tx state.Tx, bucket, key string, v any) (bool, error) {
	raw := tx.Get(bucket, key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("guard state %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings, times and slices are encoded.
		panic(fmt.Sprintf("guard: encode state: %v", err))
	}
	return b
}

func putJSON(tx state.Tx, bucket, key string, v any) error {
	if err := tx.Put(bucket, key, mustJSON(v)); err != nil {
		return fmt.Errorf("guard state %s/%s: %w", bucket, key, err)
	}
	return nil
}

// auditRec is the base of the guard's own audit records.
func auditRec(kind audit.Kind, p *engine.Plan, target string) audit.Record {
	r := audit.Record{Kind: kind, Target: target}
	if p != nil {
		r.EventID = p.Event.ID
		r.Source = p.Event.Source
		r.Playbook = p.Playbook.Name
		r.Action = p.Step.Action
		r.Step = audit.StepIndex(p.Step.Index)
	}
	return r
}
