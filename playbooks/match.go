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
