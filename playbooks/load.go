package playbooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"gopkg.in/yaml.v3"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/playbooks/yamlpos"
)

// Catalog is what loading needs of the action registry.
type Catalog interface {
	Get(id string) (actions.Action, error)
}

// Set is a validated, compiled set of playbooks. It is immutable once
// loaded and safe for concurrent use.
type Set struct {
	Playbooks []*Playbook
	byName    map[string]*Playbook
	clk       *clock
	ix        index
}

// SetClock sets the clock that now() reads in every expression of the set.
// Call it before the set is used (the default is time.Now).
func (s *Set) SetClock(now func() time.Time) { s.clk.now = now }

// Get returns the playbook with the given name.
func (s *Set) Get(name string) (*Playbook, bool) {
	p, ok := s.byName[name]
	return p, ok
}

// Len returns the number of playbooks.
func (s *Set) Len() int { return len(s.Playbooks) }

// LoadPaths loads every *.yaml and *.yml file under the given files or
// directories (recursively). It returns Problems listing every error found.
func LoadPaths(cat Catalog, paths ...string) (*Set, error) {
	l := &loader{cat: cat, names: map[string]Problem{}}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("load playbooks: %w", err)
		}
		if !info.IsDir() {
			if err := l.loadFile(p, os.ReadFile); err != nil {
				return nil, err
			}
			continue
		}
		files, err := playbookFiles(p, filepath.WalkDir)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := l.loadFile(f, os.ReadFile); err != nil {
				return nil, err
			}
		}
	}
	return l.finish()
}

// LoadFS loads every playbook file under root in fsys (the embedded examples).
func LoadFS(cat Catalog, fsys fs.FS, root string) (*Set, error) {
	l := &loader{cat: cat, names: map[string]Problem{}}
	files, err := playbookFiles(root, func(root string, fn fs.WalkDirFunc) error { return fs.WalkDir(fsys, root, fn) })
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := l.loadFile(f, func(name string) ([]byte, error) { return fs.ReadFile(fsys, name) }); err != nil {
			return nil, err
		}
	}
	return l.finish()
}

// Parse loads playbooks from one YAML text; name is used in error positions.
func Parse(cat Catalog, name string, data []byte) (*Set, error) {
	l := &loader{cat: cat, names: map[string]Problem{}}
	l.parse(name, data)
	return l.finish()
}

// playbookFiles returns the playbook files under root, sorted, as walk
// (filepath.WalkDir, or fs.WalkDir over an fs.FS) finds them.
func playbookFiles(root string, walk func(root string, fn fs.WalkDirFunc) error) ([]string, error) {
	var files []string
	err := walk(root, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isPlaybookFile(f) {
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load playbooks: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

// isPlaybookFile reports whether f is a playbook file: *.yaml or *.yml, but
// not a `firebreak test` file (*.test.yaml), so tests can live next to the
// playbooks they test.
func isPlaybookFile(f string) bool {
	lower := strings.ToLower(f)
	ext := path.Ext(lower)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	return !strings.HasSuffix(strings.TrimSuffix(lower, ext), ".test")
}

type loader struct {
	cat      Catalog
	problems Problems
	set      []*Playbook
	names    map[string]Problem
}

func (l *loader) loadFile(name string, read func(string) ([]byte, error)) error {
	data, err := read(name)
	if err != nil {
		return fmt.Errorf("load playbooks: %w", err)
	}
	l.parse(name, data)
	return nil
}

func (l *loader) finish() (*Set, error) {
	if len(l.problems) > 0 {
		// Files in load order; inside a file, by position.
		l.problems.Sort()
		return nil, l.problems
	}
	s := &Set{Playbooks: l.set, byName: map[string]*Playbook{}, clk: &clock{}, ix: buildIndex(l.set)}
	for _, p := range l.set {
		s.byName[p.Name] = p
		p.clk = s.clk
		for _, st := range p.Steps {
			st.clk = s.clk
		}
		for _, st := range p.OnResolved {
			st.clk = s.clk
		}
	}
	return s, nil
}

func (l *loader) parse(name string, data []byte) {
	lines := splitLines(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			line, col, msg := yamlpos.SyntaxError(err, data)
			l.problems = append(l.problems, Problem{File: name, Line: line, Column: col, Msg: msg})
			return
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		c := &ctx{file: name, l: l, lines: lines}
		if p := c.playbook(root); p != nil {
			at := nameNode(root)
			if prev, dup := l.names[p.Name]; dup && p.Name != "" {
				c.errorf(at, "name", "duplicate playbook name (first defined at %s:%d:%d)", prev.File, prev.Line, prev.Column)
			} else if p.Name != "" {
				l.names[p.Name] = Problem{File: name, Line: at.Line, Column: at.Column}
			}
			if !c.failed {
				l.set = append(l.set, p)
			}
		}
	}
}

// nameNode returns the value node of a playbook's name, or the playbook's
// node when it has none.
func nameNode(n *yaml.Node) *yaml.Node {
	n = yamlpos.Resolve(n)
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" {
				return yamlpos.Resolve(n.Content[i+1])
			}
		}
	}
	return n
}

// ctx collects the problems of one playbook document.
type ctx struct {
	file  string
	name  string
	l     *loader
	lines []string
	// visits counts nodes walked, aliases expanded, to stop alias bombs.
	visits int
	bombed bool
	failed bool
}

func (c *ctx) errorf(n *yaml.Node, path, format string, args ...any) {
	c.errorAt(n.Line, n.Column, path, fmt.Sprintf(format, args...))
}

func (c *ctx) errorAt(line, col int, path, msg string) {
	c.failed = true
	c.l.problems = append(c.l.problems, Problem{File: c.file, Line: line, Column: col, Playbook: c.name, Path: path, Msg: msg})
}

// maxVisits bounds the nodes one playbook may expand to through aliases.
const maxVisits = 100_000

// visit counts a node and reports false, once with an error, when the
// playbook expands to too many nodes (a "billion laughs" of aliases).
func (c *ctx) visit(n *yaml.Node, path string) bool {
	c.visits++
	if c.visits <= maxVisits {
		return true
	}
	if !c.bombed {
		c.bombed = true
		c.errorf(n, path, "the playbook expands to more than %d YAML nodes through aliases", maxVisits)
	}
	return false
}

type field struct {
	key, val *yaml.Node
}

// entries returns a mapping node's fields in file order, reporting unknown
// and duplicate keys. Aliases are followed, and merge keys (<<: *base) add
// the fields of the merged mappings that the mapping does not set itself.
func (c *ctx) entries(n *yaml.Node, path string, allowed ...string) ([]field, bool) {
	if !c.visit(n, path) {
		return nil, false
	}
	n = yamlpos.Resolve(n)
	if n.Kind != yaml.MappingNode {
		c.errorf(n, path, "must be a mapping, got %s", yamlpos.KindName(n))
		return nil, false
	}
	var out []field
	seen := map[string]bool{}
	var merged []field
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], yamlpos.Resolve(n.Content[i+1])
		if k.Tag == "!!merge" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, m := range srcs {
				fs, ok := c.entries(m, path, allowed...)
				if ok {
					merged = append(merged, fs...)
				}
			}
			continue
		}
		p := yamlpos.Join(path, k.Value)
		if len(allowed) > 0 && !contains(allowed, k.Value) {
			c.errorf(k, p, "unknown key (allowed: %s)", strings.Join(allowed, ", "))
			continue
		}
		if seen[k.Value] {
			c.errorf(k, p, "duplicate key")
			continue
		}
		seen[k.Value] = true
		out = append(out, field{key: k, val: v})
	}
	for _, f := range merged {
		if !seen[f.key.Value] {
			seen[f.key.Value] = true
			out = append(out, f)
		}
	}
	return out, true
}

// mapping returns a mapping node's fields by key; see entries.
func (c *ctx) mapping(n *yaml.Node, path string, allowed ...string) map[string]field {
	fs, ok := c.entries(n, path, allowed...)
	if !ok {
		return nil
	}
	out := make(map[string]field, len(fs))
	for _, f := range fs {
		out[f.key.Value] = f
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (c *ctx) str(f field, path string) (string, bool) {
	if f.val.Kind != yaml.ScalarNode || f.val.Tag == "!!null" {
		c.errorf(f.val, path, "must be a string, got %s", yamlpos.KindName(f.val))
		return "", false
	}
	return f.val.Value, true
}

func (c *ctx) integer(f field, path string, min int) (int, bool) {
	if f.val.Kind != yaml.ScalarNode || f.val.Tag != "!!int" {
		c.errorf(f.val, path, "must be an integer, got %s", yamlpos.KindName(f.val))
		return 0, false
	}
	n, err := strconv.Atoi(f.val.Value)
	if err != nil {
		c.errorf(f.val, path, "must be an integer: %v", err)
		return 0, false
	}
	if n < min {
		c.errorf(f.val, path, "must be at least %d", min)
		return 0, false
	}
	return n, true
}

func (c *ctx) boolean(f field, path string) (bool, bool) {
	if f.val.Kind != yaml.ScalarNode || f.val.Tag != "!!bool" {
		c.errorf(f.val, path, "must be true or false, got %s", yamlpos.KindName(f.val))
		return false, false
	}
	return f.val.Value == "true", true
}

func (c *ctx) duration(f field, path string) (time.Duration, bool) {
	s, ok := c.str(f, path)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		c.errorf(f.val, path, "must be a positive duration such as \"15m\", got %q", s)
		return 0, false
	}
	return d, true
}

// nodeHash is the SHA-256 of a playbook's content with aliases and merge
// keys resolved, so that reformatting or reordering keys does not change it.
func nodeHash(n *yaml.Node) string {
	var v any
	if err := n.Decode(&v); err != nil {
		raw, _ := yaml.Marshal(n)
		sum := sha256.Sum256(raw)
		return hex.EncodeToString(sum[:])
	}
	raw, err := json.Marshal(v)
	if err != nil {
		raw = []byte(fmt.Sprint(v))
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func (c *ctx) playbook(n *yaml.Node) *Playbook {
	n = yamlpos.Resolve(n)
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v := yamlpos.Resolve(n.Content[i+1]); n.Content[i].Value == "name" && v.Kind == yaml.ScalarNode {
				c.name = v.Value
			}
		}
	}
	if n.Kind != yaml.MappingNode {
		c.errorf(n, "", "a playbook must be a mapping, got %s", yamlpos.KindName(n))
		return nil
	}
	fs := c.mapping(n, "", playbookKeyNames...)
	if fs == nil {
		return nil
	}
	p := &Playbook{File: c.file, Line: n.Line, Hash: nodeHash(n), Mode: ModeAuto}
	if f, ok := fs["name"]; ok {
		p.Name, _ = c.str(f, "name")
	}
	if _, ok := fs["name"]; !ok {
		c.errorf(n, "name", "is required")
	} else if p.Name == "" && yamlpos.Resolve(fs["name"].val).Kind == yaml.ScalarNode {
		c.errorf(fs["name"].val, "name", "must not be empty")
	}
	if f, ok := fs["description"]; ok {
		p.Description, _ = c.str(f, "description")
	}
	if f, ok := fs["owner"]; ok {
		p.Owner, _ = c.str(f, "owner")
	}
	if f, ok := fs["match"]; ok {
		if s, ok := c.str(f, "match"); ok {
			p.Match = s
			p.match = c.compile(f.val, "match", s, expr.AsBool())
			if p.match != nil {
				p.pre = extractPrefilter(s)
			}
		}
	} else {
		c.errorf(n, "match", "is required")
	}
	if f, ok := fs["mode"]; ok {
		if s, ok := c.str(f, "mode"); ok {
			switch s {
			case ModeAuto, ModeApprove, ModeShadow:
				p.Mode = s
			default:
				c.errorf(f.val, "mode", "must be one of auto, approve, shadow, got %q", s)
			}
		}
	}
	if f, ok := fs["dedupe"]; ok {
		p.Dedupe = c.dedupe(f.val)
	}
	if f, ok := fs["budget"]; ok {
		p.Budget = c.budget(f.val)
	}
	if f, ok := fs["breaker"]; ok {
		p.Breaker = c.breaker(f.val)
	}
	if f, ok := fs["approval"]; ok {
		p.Approval = c.approval(f.val)
	}
	if f, ok := fs["steps"]; ok {
		p.Steps = c.steps(f.val, "steps")
		if v := yamlpos.Resolve(f.val); v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
			c.errorf(v, "steps", "at least one step is required")
		}
	} else {
		c.errorf(n, "steps", "is required")
	}
	if f, ok := fs["on_resolved"]; ok {
		p.OnResolved = c.steps(f.val, "on_resolved")
	}
	if f, ok := fs["revert_on_resolve"]; ok {
		if v, ok := c.boolean(f, "revert_on_resolve"); ok && v {
			p.RevertOnResolve = true
			p.OnResolved = append(p.OnResolved, c.reverts(f, p.Steps, len(p.OnResolved))...)
		}
	}
	return p
}

// reverts builds the on_resolved restores of revert_on_resolve: for each
// step whose action takes RestoreParam, last step first, the same action
// with the step's parameters except those a restore does not take, and
// restore: true.
func (c *ctx) reverts(f field, steps []*Step, next int) []*Step {
	var out []*Step
	for i := len(steps) - 1; i >= 0; i-- {
		st := steps[i]
		act, err := c.l.cat.Get(st.Action)
		if err != nil {
			continue // reported where the step names it
		}
		spec := act.Spec()
		if !hasParam(spec, actions.RestoreParam) {
			continue
		}
		with := make(map[string]*Value, len(st.With))
		for k, v := range st.With {
			if k != actions.RestoreParam && !slices.Contains(spec.RestoreDrops, k) {
				with[k] = v
			}
		}
		with[actions.RestoreParam] = &Value{literal: true}
		name := "revert step " + strconv.Itoa(st.Index)
		if st.Name != "" {
			name = "revert " + st.Name
		}
		out = append(out, &Step{Index: next + len(out), Name: name, Action: st.Action, With: with,
			Timeout: st.Timeout, Retries: st.Retries, Approval: st.Approval, ContinueOnError: true, Line: st.Line, Column: st.Column})
	}
	if len(out) == 0 {
		c.errorf(f.key, "revert_on_resolve", "no step of this playbook can be restored (only actions with a %s parameter, such as kubernetes.scale)", actions.RestoreParam)
	}
	return out
}

func hasParam(spec actions.Spec, name string) bool {
	for _, p := range spec.Params {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (c *ctx) dedupe(n *yaml.Node) *Dedupe {
	fs := c.mapping(n, "dedupe", dedupeKeyNames...)
	if fs == nil {
		return nil
	}
	d := &Dedupe{}
	if f, ok := fs["key"]; ok {
		if s, ok := c.str(f, "dedupe.key"); ok {
			d.Key = s
			d.key = c.compile(f.val, "dedupe.key", s)
		}
	}
	if f, ok := fs["window"]; ok {
		d.Window, _ = c.duration(f, "dedupe.window")
	} else {
		c.errorf(n, "dedupe.window", "is required")
	}
	return d
}

// ParseBudget parses "3/1h": at most 3 runs per hour.
func ParseBudget(s string) (Budget, error) {
	count, window, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Budget{}, fmt.Errorf("must look like \"3/1h\" (runs/window), got %q", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 {
		return Budget{}, fmt.Errorf("count must be a whole number of at least 1, got %q", count)
	}
	d, err := time.ParseDuration(strings.TrimSpace(window))
	if err != nil || d <= 0 {
		return Budget{}, fmt.Errorf("window must be a positive duration such as \"1h\", got %q", window)
	}
	return Budget{Count: n, Window: d, Text: s}, nil
}

func (c *ctx) budget(n *yaml.Node) []Budget {
	n = yamlpos.Resolve(n)
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []Budget
	for i, it := range items {
		it = yamlpos.Resolve(it)
		path := "budget"
		if n.Kind == yaml.SequenceNode {
			path = fmt.Sprintf("budget[%d]", i)
		}
		if it.Kind != yaml.ScalarNode {
			c.errorf(it, path, "must be a string such as \"3/1h\", got %s", yamlpos.KindName(it))
			continue
		}
		b, err := ParseBudget(it.Value)
		if err != nil {
			c.errorf(it, path, "%v", err)
			continue
		}
		out = append(out, b)
	}
	return out
}

func (c *ctx) breaker(n *yaml.Node) *Breaker {
	fs := c.mapping(n, "breaker", breakerKeyNames...)
	if fs == nil {
		return nil
	}
	b := &Breaker{Failures: 3, Window: 30 * time.Minute, Cooldown: time.Hour}
	if f, ok := fs["failures"]; ok {
		b.Failures, _ = c.integer(f, "breaker.failures", 1)
	}
	if f, ok := fs["window"]; ok {
		b.Window, _ = c.duration(f, "breaker.window")
	}
	if f, ok := fs["cooldown"]; ok {
		b.Cooldown, _ = c.duration(f, "breaker.cooldown")
	}
	if f, ok := fs["verify"]; ok {
		b.Verify, _ = c.duration(f, "breaker.verify")
	}
	return b
}

func (c *ctx) approval(n *yaml.Node) *Approval {
	fs := c.mapping(n, "approval", approvalKeyNames...)
	if fs == nil {
		return nil
	}
	a := &Approval{Expires: 30 * time.Minute, Approvers: 1}
	if f, ok := fs["expires"]; ok {
		a.Expires, _ = c.duration(f, "approval.expires")
	}
	if f, ok := fs["approvers"]; ok {
		a.Approvers, _ = c.integer(f, "approval.approvers", 1)
	}
	if f, ok := fs["requester"]; ok {
		if s, ok := c.str(f, "approval.requester"); ok {
			a.Requester = s
			a.requester = c.compile(f.val, "approval.requester", s)
		}
	}
	return a
}

func (c *ctx) steps(n *yaml.Node, path string) []*Step {
	n = yamlpos.Resolve(n)
	if n.Kind != yaml.SequenceNode {
		c.errorf(n, path, "must be a list of steps, got %s", yamlpos.KindName(n))
		return nil
	}
	var out []*Step
	for i, sn := range n.Content {
		sp := fmt.Sprintf("%s[%d]", path, i)
		fs := c.mapping(sn, sp, stepKeyNames...)
		if fs == nil {
			continue
		}
		s := &Step{Index: i, Timeout: 30 * time.Second, Line: sn.Line, Column: sn.Column}
		if f, ok := fs["name"]; ok {
			s.Name, _ = c.str(f, sp+".name")
		}
		var act actions.Action
		if f, ok := fs["action"]; ok {
			if id, ok := c.str(f, sp+".action"); ok {
				s.Action = id
				a, err := c.l.cat.Get(id)
				if err != nil {
					c.errorf(f.val, sp+".action", "unknown action %q", id)
				}
				act = a
			}
		} else {
			c.errorf(sn, sp+".action", "is required")
		}
		if f, ok := fs["timeout"]; ok {
			s.Timeout, _ = c.duration(f, sp+".timeout")
		}
		if f, ok := fs["retries"]; ok {
			s.Retries, _ = c.integer(f, sp+".retries", 0)
		}
		if f, ok := fs["approval"]; ok {
			if v, ok := c.str(f, sp+".approval"); ok {
				switch v {
				case "required":
					s.Approval = true
				case "none":
				default:
					c.errorf(f.val, sp+".approval", "must be required or none, got %q", v)
				}
			}
		}
		if f, ok := fs["continue_on_error"]; ok {
			s.ContinueOnError, _ = c.boolean(f, sp+".continue_on_error")
		}
		if f, ok := fs["when"]; ok {
			if v, ok := c.str(f, sp+".when"); ok {
				s.When = v
				s.when = c.compile(f.val, sp+".when", v, expr.AsBool())
			}
		}
		s.With = map[string]*Value{}
		withNodes := map[string]*yaml.Node{}
		if f, ok := fs["with"]; ok {
			if wf, ok := c.entries(f.val, sp+".with"); ok {
				for _, kv := range wf {
					k := kv.key.Value
					withNodes[k] = kv.key
					if v := c.value(kv.val, sp+".with."+k); v != nil {
						s.With[k] = v
					}
				}
			}
		}
		if act != nil {
			c.checkParams(act, s, sn, sp, withNodes)
			for _, p := range act.Spec().Params {
				if v := s.With[p.Name]; v != nil && p.Escape != nil {
					v.setEscape(p.Escape)
				}
			}
		}
		if kn, ok := withNodes[actions.RestoreParam]; ok && path != "on_resolved" {
			// A restore puts back what a firing step changed: it only
			// has something to restore once the alert resolved.
			if wv := s.With[actions.RestoreParam]; wv != nil {
				if v, ok := wv.Literal(); ok && v == true {
					c.errorf(kn, sp+".with."+actions.RestoreParam, "only an on_resolved step may restore (it puts back what a firing step of this playbook changed)")
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// checkParams validates the literal parameters with the action and reports
// required parameters that are missing altogether.
func (c *ctx) checkParams(act actions.Action, s *Step, sn *yaml.Node, sp string, keys map[string]*yaml.Node) {
	literal := map[string]any{}
	for k, v := range s.With {
		if l, ok := v.Literal(); ok {
			literal[k] = l
		}
	}
	var errs []error
	if err := act.Validate(literal, false); err != nil {
		errs = append(errs, err)
	}
	for _, group := range act.Spec().OneOf {
		var given []string
		for _, name := range group {
			if _, ok := keys[name]; ok {
				given = append(given, name)
			}
		}
		switch {
		case len(given) == 0 && len(group) > 0:
			errs = append(errs, &actions.ParamError{Param: group[0], Msg: "is required (or " + strings.Join(group[1:], ", or ") + ")"})
		case len(given) > 1:
			errs = append(errs, &actions.ParamError{Param: given[1], Msg: strings.Join(group, ", ") + " are exclusive: give one"})
		}
	}
	for _, p := range act.Spec().Params {
		if _, ok := keys[p.Name]; !ok && p.Required && p.Default == nil {
			errs = append(errs, &actions.ParamError{Param: p.Name, Msg: "is required"})
		}
		if v, ok := s.With[p.Name]; ok {
			if msg := kindMismatch(p.Type, v.StaticKind()); msg != "" {
				errs = append(errs, &actions.ParamError{Param: p.Name, Msg: msg})
			}
		}
	}
	for _, err := range errs {
		for _, e := range flatten(err) {
			var pe *actions.ParamError
			if errors.As(e, &pe) {
				name, _, _ := strings.Cut(pe.Param, ".")
				if kn, ok := keys[name]; ok {
					c.errorf(kn, sp+".with."+pe.Param, "%s", pe.Msg)
				} else {
					c.errorf(sn, sp+".with."+pe.Param, "%s", pe.Msg)
				}
				continue
			}
			c.errorf(sn, sp+".with", "%v", e)
		}
	}
}

// kindMismatch reports a template whose type, known at load time, can never
// be what the parameter needs, such as a string expression for an int.
func kindMismatch(want actions.ParamType, k reflect.Kind) string {
	if k == reflect.Interface {
		return ""
	}
	ok := true
	switch want {
	case actions.String, actions.Duration:
		ok = k == reflect.String
	case actions.Int:
		switch k {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		default:
			ok = false
		}
	case actions.Bool:
		ok = k == reflect.Bool
	case actions.Map:
		ok = k == reflect.Map
	}
	if ok {
		return ""
	}
	msg := fmt.Sprintf("the template gives %s, the parameter needs %s", kindText(k), want)
	switch {
	case want == actions.Int && k == reflect.String:
		msg += "; convert it with int(…)"
	case want == actions.String:
		msg += "; convert it with string(…)"
	}
	return msg
}

func kindText(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int64:
		return "a number"
	}
	return k.String()
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// value compiles a parameter node: scalars (with templates), lists, mappings.
func (c *ctx) value(n *yaml.Node, path string) *Value {
	if !c.visit(n, path) {
		return nil
	}
	n = yamlpos.Resolve(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			v, err := compileString(n.Value)
			if err != nil {
				var te *templateError
				if errors.As(err, &te) {
					c.exprError(n, te.offset, te.src, path, te.err)
				} else {
					c.errorf(n, path, "%v", err)
				}
				return nil
			}
			return v
		}
		var lit any
		if err := n.Decode(&lit); err != nil {
			c.errorf(n, path, "%v", err)
			return nil
		}
		return &Value{literal: lit}
	case yaml.SequenceNode:
		v := &Value{list: []*Value{}}
		ok := true
		for i, e := range n.Content {
			ev := c.value(e, fmt.Sprintf("%s[%d]", path, i))
			if ev == nil {
				ok = false
				continue
			}
			v.list = append(v.list, ev)
		}
		if !ok {
			return nil
		}
		return v
	case yaml.MappingNode:
		v := &Value{mapping: map[string]*Value{}}
		fs, _ := c.entries(n, path)
		ok := true
		for _, f := range fs {
			ev := c.value(f.val, path+"."+f.key.Value)
			if ev == nil {
				ok = false
				continue
			}
			v.mapping[f.key.Value] = ev
		}
		if !ok {
			return nil
		}
		return v
	}
	c.errorf(n, path, "unsupported value: %s", yamlpos.KindName(n))
	return nil
}

func exprMessage(err error) string {
	var fe *file.Error
	var ne *nodeError
	msg := err.Error()
	switch {
	case errors.As(err, &ne):
		msg = ne.err.Error()
	case errors.As(err, &fe):
		msg = fe.Message
	}
	return "invalid expression: " + strings.TrimSpace(msg)
}
