package playbooks

import (
	"fmt"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/firebreak/firebreak/engine/event"
)

// Modes a playbook runs in.
const (
	ModeAuto    = "auto"    // run steps as planned
	ModeApprove = "approve" // every changing step waits for a human
	ModeShadow  = "shadow"  // plan and audit, never execute
)

// Playbook is one compiled playbook.
type Playbook struct {
	Name        string
	Description string
	Owner       string
	// Match is the rule's source text; match is its compiled program.
	Match      string
	match      *vm.Program
	pre        prefilter
	clk        *clock
	Mode       string
	Dedupe     *Dedupe
	Budget     []Budget
	Breaker    *Breaker
	Approval   *Approval
	Steps      []*Step
	OnResolved []*Step
	// RevertOnResolve is set when on_resolved ends with restores of the
	// restorable steps (revert_on_resolve: true).
	RevertOnResolve bool

	// File and Line say where the playbook was defined; Hash is the SHA-256
	// of its YAML text, so a reload shows what changed.
	File string
	Line int
	Hash string
}

// Dedupe is the playbook's dedupe window: the same key within Window runs once.
type Dedupe struct {
	// Key is an expr expression; empty means the event's fingerprint.
	Key    string
	key    *vm.Program
	Window time.Duration
}

// Budget is one rate window per target: at most Count runs per Window.
type Budget struct {
	Count  int
	Window time.Duration
	Text   string
}

// Breaker configures the circuit breaker per playbook × target.
type Breaker struct {
	Failures int
	Window   time.Duration
	Cooldown time.Duration
	// Verify is how long after a run its alert must resolve to count as a
	// success; zero means only execution failures count.
	Verify time.Duration
}

// Approval configures human approval for the playbook's steps.
type Approval struct {
	// Expires is how long an undecided approval waits before it is denied.
	Expires time.Duration
	// Approvers is how many distinct people must approve (two-person rule: 2).
	Approvers int
	// Requester is an expr expression naming who asked for the action;
	// empty means nobody but the playbook.
	Requester string
	requester *vm.Program
}

// Step is one action of a playbook.
type Step struct {
	Index  int
	Name   string
	Action string
	// With holds the compiled parameters.
	With            map[string]*Value
	Timeout         time.Duration
	Retries         int
	Approval        bool
	ContinueOnError bool
	When            string
	when            *vm.Program
	clk             *clock
	Line            int
	Column          int
}

// vms holds reusable expr VMs: a program is safe for concurrent use, a VM
// is not, and a fresh VM per evaluation costs allocations on the hot path.
var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// run evaluates prog with a pooled VM.
func run(prog *vm.Program, env *Env) (any, error) {
	m := vms.Get().(*vm.VM)
	out, err := m.Run(prog, env)
	vms.Put(m)
	return out, err
}

// clock is shared by every playbook and step of a set, so that Set.SetClock
// reaches them all.
type clock struct{ now func() time.Time }

func (c *clock) fn() func() time.Time {
	if c == nil || c.now == nil {
		return time.Now
	}
	return c.now
}

// Matches evaluates the playbook's rule against ev. A rule that requires
// event.source, event.name or event.status to equal constants is answered
// false without running the program when ev cannot satisfy that.
func (p *Playbook) Matches(ev *event.Event) (bool, error) {
	if !p.pre.admits(ev) {
		return false, nil
	}
	out, err := eval(p.match, ev, p.clk.fn())
	if err != nil {
		return false, fmt.Errorf("match: %w", err)
	}
	b, _ := out.(bool)
	return b, nil
}

// DedupeKey evaluates the dedupe key for ev. Without a configured key it is
// the event's fingerprint (or its id when it has none).
func (p *Playbook) DedupeKey(ev *event.Event) (string, error) {
	if p.Dedupe == nil || p.Dedupe.key == nil {
		if ev.Fingerprint != "" {
			return ev.Fingerprint, nil
		}
		return ev.ID, nil
	}
	out, err := eval(p.Dedupe.key, ev, p.clk.fn())
	if err != nil {
		return "", fmt.Errorf("dedupe key: %w", err)
	}
	return stringify(out), nil
}

// RequestedBy evaluates approval.requester for ev: who asked for the
// playbook's actions, or "" when the playbook does not say.
func (p *Playbook) RequestedBy(ev *event.Event) (string, error) {
	if p.Approval == nil || p.Approval.requester == nil {
		return "", nil
	}
	out, err := eval(p.Approval.requester, ev, p.clk.fn())
	if err != nil {
		return "", fmt.Errorf("approval.requester: %w", err)
	}
	if out == nil {
		return "", nil
	}
	return stringify(out), nil
}

// ShouldRun evaluates the step's `when` condition; a step without one runs.
func (s *Step) ShouldRun(ev *event.Event) (bool, error) {
	if s.when == nil {
		return true, nil
	}
	out, err := eval(s.when, ev, s.clk.fn())
	if err != nil {
		return false, fmt.Errorf("when: %w", err)
	}
	b, _ := out.(bool)
	return b, nil
}

// Render evaluates every parameter template against ev. Literal values are
// returned as written; a value that is one whole template keeps the type of
// its expression; templates inside text render as strings.
func (s *Step) Render(ev *event.Event) (map[string]any, error) {
	env := getEnv(ev, s.clk.fn())
	defer putEnv(env)
	out := make(map[string]any, len(s.With))
	for k, v := range s.With {
		r, err := v.Eval(env)
		if err != nil {
			return nil, fmt.Errorf("with.%s: %w", k, err)
		}
		out[k] = r
	}
	return out, nil
}
