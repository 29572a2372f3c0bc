package playbooks

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/firebreak/firebreak/engine/event"
)

// Env is what an expression sees. `event` is the normalised event; labels,
// annotations and fields are shortcuts for event.labels, event.annotations
// and event.fields (so that fields["k8s.ns.name"] reads a dotted key); now()
// reads the set's clock.
type Env struct {
	Event       *event.Event      `expr:"event"`
	Labels      map[string]string `expr:"labels"`
	Annotations map[string]string `expr:"annotations"`
	Fields      map[string]any    `expr:"fields"`
	Now         func() time.Time  `expr:"now"`
}

// envs recycles environments: one per evaluation would be an allocation on
// the hot path.
var envs = sync.Pool{New: func() any { return new(Env) }}

// getEnv returns the environment for ev with the clock now; give it back
// with putEnv once the evaluation is done.
func getEnv(ev *event.Event, now func() time.Time) *Env {
	if now == nil {
		now = time.Now
	}
	env := envs.Get().(*Env)
	*env = Env{Event: ev, Labels: ev.Labels, Annotations: ev.Annotations, Fields: ev.Fields, Now: now}
	return env
}

// putEnv clears env, so that the pool keeps no event alive, and recycles it.
func putEnv(env *Env) {
	*env = Env{}
	envs.Put(env)
}

// eval runs prog against ev.
func eval(prog *vm.Program, ev *event.Event, now func() time.Time) (any, error) {
	env := getEnv(ev, now)
	out, err := run(prog, env)
	putEnv(env)
	return out, err
}

// MaxNodes bounds an expression's size (its AST nodes) so that no playbook
// can make matching slow.
const MaxNodes = 500

// Helper names as playbooks call them. label, annotation and field take the
// key and an optional default; helperPatcher passes them the event's map.
const (
	fnCIDR       = "cidr"
	fnRegex      = "regex"
	fnLabel      = "label"
	fnAnnotation = "annotation"
	fnField      = "field"
	fnCoalesce   = "coalesce"
	fnSince      = "since"
)

// Helper describes one helper function, for docs/playbooks.md (its helper
// table is checked against Helpers by a test).
type Helper struct {
	Signature string
	Doc       string
}

// Helpers lists the helper functions offered to expressions besides expr's
// own built-ins (lower, upper, trim, split, hasPrefix, duration, date, len …).
func Helpers() []Helper {
	return []Helper{
		{`cidr(ip string, cidr string, …) bool`, `ip lies in one of the CIDR blocks (IPv4 or IPv6; IPv4-mapped IPv6 counts as IPv4); an empty or invalid ip is false; a constant invalid block is a load error`},
		{`regex(s string, pattern string) bool`, `s matches the RE2 pattern (unanchored); a constant invalid pattern is a load error; compiled patterns are cached`},
		{`label(name string[, default string]) string`, `event.labels[name], or default (empty) when the label is absent or empty`},
		{`annotation(name string[, default string]) string`, `event.annotations[name], or default when absent or empty`},
		{`field(key string[, default any]) any`, `event.fields[key] (the key may contain dots: "k8s.ns.name"), or default when absent or null`},
		{`coalesce(a, b, …) any`, `the first argument that is neither null nor the empty string`},
		{`now() time`, `the current time (the test file's "now" under firebreak test)`},
		{`since(t time) duration`, `now() - t, for example since(event.starts_at) > duration("10m")`},
	}
}

var (
	regexCache sync.Map // pattern → *regexp.Regexp
	cidrCache  sync.Map // block → netip.Prefix
)

func cachedRegex(pat string) (*regexp.Regexp, error) {
	if re, ok := regexCache.Load(pat); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, err
	}
	v, _ := regexCache.LoadOrStore(pat, re)
	return v.(*regexp.Regexp), nil
}

func cachedPrefix(block string) (netip.Prefix, error) {
	if p, ok := cidrCache.Load(block); ok {
		return p.(netip.Prefix), nil
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(block))
	if err != nil {
		return netip.Prefix{}, err
	}
	p = p.Masked()
	cidrCache.Store(block, p)
	return p, nil
}

// exprOptions are the options every expression is compiled with.
var exprOptions = sync.OnceValue(func() []expr.Option {
	return []expr.Option{
		expr.Env(Env{}),
		expr.MaxNodes(MaxNodes),
		expr.Patch(helperPatcher{}),
		expr.Function(fnCIDR, func(params ...any) (any, error) {
			ip, _ := params[0].(string)
			if len(params) < 2 {
				return false, fmt.Errorf("cidr: at least one CIDR block is required")
			}
			a, err := netip.ParseAddr(strings.TrimSpace(ip))
			for _, b := range params[1:] {
				block, _ := b.(string)
				p, perr := cachedPrefix(block)
				if perr != nil {
					return false, fmt.Errorf("cidr: %q is not a CIDR block such as \"10.0.0.0/8\"", block)
				}
				if err == nil && p.Contains(a.Unmap()) {
					return true, nil
				}
			}
			return false, nil
		}, new(func(string, ...string) bool)),
		expr.Function(fnRegex, func(params ...any) (any, error) {
			s, _ := params[0].(string)
			pat, _ := params[1].(string)
			re, err := cachedRegex(pat)
			if err != nil {
				return false, fmt.Errorf("regex: %w", err)
			}
			return re.MatchString(s), nil
		}, new(func(string, string) bool)),
		expr.Function(fnLabel, lookupString, new(func(map[string]string, string, ...string) string)),
		expr.Function(fnAnnotation, lookupString, new(func(map[string]string, string, ...string) string)),
		expr.Function(fnField, func(params ...any) (any, error) {
			m, _ := params[0].(map[string]any)
			key, _ := params[1].(string)
			if v, ok := m[key]; ok && v != nil {
				return v, nil
			}
			if len(params) > 2 {
				return params[2], nil
			}
			return nil, nil
		}, new(func(map[string]any, string) any), new(func(map[string]any, string, any) any)),
		expr.Function(fnCoalesce, func(params ...any) (any, error) {
			for _, p := range params {
				if p == nil {
					continue
				}
				if s, ok := p.(string); ok && s == "" {
					continue
				}
				return p, nil
			}
			return nil, nil
		}),
		expr.Function(fnSince, func(params ...any) (any, error) {
			now, _ := params[0].(time.Time)
			t, _ := params[1].(time.Time)
			return now.Sub(t), nil
		}, new(func(time.Time, time.Time) time.Duration)),
	}
})

func lookupString(params ...any) (any, error) {
	m, _ := params[0].(map[string]string)
	key, _ := params[1].(string)
	if v := m[key]; v != "" {
		return v, nil
	}
	if len(params) > 2 {
		s, _ := params[2].(string)
		return s, nil
	}
	return "", nil
}

// helperPatcher gives label(k, d), annotation(k, d), field(k, d) and
// since(t) their hidden first argument: the event's map, or now().
type helperPatcher struct{}

// Visit implements ast.Visitor.
func (helperPatcher) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	var first ast.Node
	switch id.Value {
	case fnLabel:
		first = &ast.IdentifierNode{Value: "labels"}
	case fnAnnotation:
		first = &ast.IdentifierNode{Value: "annotations"}
	case fnField:
		first = &ast.IdentifierNode{Value: "fields"}
	case fnSince:
		first = &ast.CallNode{Callee: &ast.IdentifierNode{Value: "now"}}
	default:
		return
	}
	loc := call.Location()
	first.SetLocation(loc)
	if c, ok := first.(*ast.CallNode); ok {
		c.Callee.SetLocation(loc)
	}
	call.Arguments = append([]ast.Node{first}, call.Arguments...)
}

// constantArgs checks the constant arguments of cidr and regex in a compiled
// expression, so that a bad block or pattern is a load error, not a
// run-time surprise. It returns the offending node and the problem.
func constantArgs(root ast.Node) (ast.Node, error) {
	var bad ast.Node
	var err error
	ast.Walk(&root, visitor(func(n *ast.Node) {
		if err != nil {
			return
		}
		call, ok := (*n).(*ast.CallNode)
		if !ok {
			return
		}
		id, ok := call.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		switch id.Value {
		case fnCIDR:
			if len(call.Arguments) < 2 {
				bad, err = call, fmt.Errorf("cidr needs an address and at least one CIDR block")
				return
			}
			for _, a := range call.Arguments[1:] {
				if s, ok := a.(*ast.StringNode); ok {
					if _, perr := netip.ParsePrefix(strings.TrimSpace(s.Value)); perr != nil {
						bad, err = a, fmt.Errorf("cidr: %q is not a CIDR block such as \"10.0.0.0/8\"", s.Value)
						return
					}
				}
			}
		case fnRegex:
			if len(call.Arguments) == 2 {
				if s, ok := call.Arguments[1].(*ast.StringNode); ok {
					if _, rerr := regexp.Compile(s.Value); rerr != nil {
						bad, err = s, fmt.Errorf("regex: %s", strings.TrimPrefix(rerr.Error(), "error parsing regexp: "))
					}
				}
			}
		}
	}))
	return bad, err
}

type visitor func(*ast.Node)

func (v visitor) Visit(n *ast.Node) { v(n) }
