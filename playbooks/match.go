package playbooks

import (
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/firebreak/firebreak/engine/event"
)

// prefilter holds the equality constraints a rule places on event.source,
// event.name and event.status in its top-level && chain. An event that
// violates one cannot match, so the compiled rule need not run: with many
// playbooks, most are rejected by a few string comparisons.
//
// A nil list means "no constraint". Only constraints that must hold for the
// rule to be true are extracted (conjuncts of the top-level &&), so the
// prefilter never rejects an event the rule would accept.
type prefilter struct {
	source, name, status []string
}

func (f *prefilter) admits(ev *event.Event) bool {
	return allows(f.source, ev.Source) && allows(f.name, ev.Name) && allows(f.status, ev.Status)
}

func allows(list []string, v string) bool {
	if list == nil {
		return true
	}
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// extractPrefilter parses rule and collects its constraints. A rule that does
// not parse gets no prefilter (the compiler reports the error).
func extractPrefilter(rule string) prefilter {
	tree, err := parser.Parse(rule)
	if err != nil {
		return prefilter{}
	}
	var f prefilter
	f.collect(tree.Node)
	return f
}

func (f *prefilter) collect(n ast.Node) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return
	}
	switch b.Operator {
	case "&&", "and":
		f.collect(b.Left)
		f.collect(b.Right)
	case "==":
		if field, ok := eventField(b.Left); ok {
			if s, ok := b.Right.(*ast.StringNode); ok {
				f.constrain(field, []string{s.Value})
			}
		} else if field, ok := eventField(b.Right); ok {
			if s, ok := b.Left.(*ast.StringNode); ok {
				f.constrain(field, []string{s.Value})
			}
		}
	case "in":
		field, ok := eventField(b.Left)
		arr, isArr := b.Right.(*ast.ArrayNode)
		if !ok || !isArr {
			return
		}
		vals := make([]string, 0, len(arr.Nodes))
		for _, e := range arr.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return
			}
			vals = append(vals, s.Value)
		}
		f.constrain(field, vals)
	}
}

// constrain intersects the field's allowed values with vals.
func (f *prefilter) constrain(field string, vals []string) {
	var dst *[]string
	switch field {
	case "source":
		dst = &f.source
	case "name":
		dst = &f.name
	case "status":
		dst = &f.status
	default:
		return
	}
	if *dst == nil {
		*dst = slices.Clone(vals)
		return
	}
	out := []string{}
	for _, v := range *dst {
		if slices.Contains(vals, v) {
			out = append(out, v)
		}
	}
	*dst = out
}

// eventField recognises event.source, event["source"] and the like.
func eventField(n ast.Node) (string, bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok || m.Optional {
		return "", false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "event" {
		return "", false
	}
	s, ok := m.Property.(*ast.StringNode)
	if !ok {
		return "", false
	}
	return s.Value, true
}

// index narrows a set's playbooks to those whose prefilter can admit an
// event, by exact name or, for rules without a name constraint, by source.
// Positions are kept in load order.
type index struct {
	byName   map[string][]int
	bySource map[string][]int
	rest     []int
}

func buildIndex(ps []*Playbook) index {
	ix := index{byName: map[string][]int{}, bySource: map[string][]int{}}
	for i, p := range ps {
		switch {
		case p.pre.name != nil:
			for _, n := range uniq(p.pre.name) {
				ix.byName[n] = append(ix.byName[n], i)
			}
		case p.pre.source != nil:
			for _, s := range uniq(p.pre.source) {
				ix.bySource[s] = append(ix.bySource[s], i)
			}
		default:
			ix.rest = append(ix.rest, i)
		}
	}
	return ix
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// Candidates returns, in load order, the playbooks whose rule can match ev;
// the others are known not to match from their rule's equality conditions
// on event.source, event.name and event.status. Call Matches on each.
func (s *Set) Candidates(ev *event.Event) []*Playbook {
	a, b, c := s.ix.byName[ev.Name], s.ix.bySource[ev.Source], s.ix.rest
	out := make([]*Playbook, 0, len(a)+len(b)+len(c))
	for len(a)+len(b)+len(c) > 0 {
		// Take the smallest head of the three sorted lists.
		min, from := -1, 0
		for k, l := range [][]int{a, b, c} {
			if len(l) > 0 && (min < 0 || l[0] < min) {
				min, from = l[0], k
			}
		}
		switch from {
		case 0:
			a = a[1:]
		case 1:
			b = b[1:]
		default:
			c = c[1:]
		}
		if p := s.Playbooks[min]; p.pre.admits(ev) {
			out = append(out, p)
		}
	}
	return out
}
