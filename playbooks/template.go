package playbooks

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/vm"
)

// Value is one compiled parameter value: a literal, a template, or a list or
// mapping of values.
type Value struct {
	literal any
	parts   []part // a template: text and expressions
	whole   bool   // the value is exactly one {{ }}: keep the expression's type
	list    []*Value
	mapping map[string]*Value
	// escape, when set, is applied to what each expression renders (see
	// actions.Param.Escape); literal text is kept as written.
	escape func(string) string
}

// setEscape makes every template in v, nested ones included, pass its
// output through fn.
func (v *Value) setEscape(fn func(string) string) {
	v.escape = fn
	for _, e := range v.list {
		e.setEscape(fn)
	}
	for _, e := range v.mapping {
		e.setEscape(fn)
	}
}

type part struct {
	text string
	prog *vm.Program
	src  string
}

// StaticKind returns the reflect.Kind a whole-template value is known to
// have at load time, or reflect.Interface when it is unknown (any) or the
// value is not a whole template. Text templates are strings.
func (v *Value) StaticKind() reflect.Kind {
	switch {
	case v.parts == nil:
		return reflect.Interface
	case !v.whole:
		return reflect.String
	}
	t := v.parts[0].prog.Node().Type()
	if t == nil {
		return reflect.Interface
	}
	return t.Kind()
}

// Literal returns the value and true when it contains no template.
func (v *Value) Literal() (any, bool) {
	switch {
	case v.parts != nil:
		return nil, false
	case v.list != nil:
		out := make([]any, len(v.list))
		for i, e := range v.list {
			l, ok := e.Literal()
			if !ok {
				return nil, false
			}
			out[i] = l
		}
		return out, true
	case v.mapping != nil:
		out := make(map[string]any, len(v.mapping))
		for k, e := range v.mapping {
			l, ok := e.Literal()
			if !ok {
				return nil, false
			}
			out[k] = l
		}
		return out, true
	}
	return v.literal, true
}

// Eval renders the value against env.
func (v *Value) Eval(env *Env) (any, error) {
	switch {
	case v.parts != nil:
		if v.whole {
			out, err := run(v.parts[0].prog, env)
			if err != nil {
				return nil, fmt.Errorf("{{ %s }}: %w", v.parts[0].src, err)
			}
			if s, ok := out.(string); ok && v.escape != nil {
				return v.escape(s), nil
			}
			return out, nil
		}
		var b strings.Builder
		for _, p := range v.parts {
			if p.prog == nil {
				b.WriteString(p.text)
				continue
			}
			out, err := run(p.prog, env)
			if err != nil {
				return nil, fmt.Errorf("{{ %s }}: %w", p.src, err)
			}
			if v.escape != nil {
				b.WriteString(v.escape(stringify(out)))
			} else {
				b.WriteString(stringify(out))
			}
		}
		return b.String(), nil
	case v.list != nil:
		out := make([]any, len(v.list))
		for i, e := range v.list {
			r, err := e.Eval(env)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case v.mapping != nil:
		out := make(map[string]any, len(v.mapping))
		for k, e := range v.mapping {
			r, err := e.Eval(env)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v.literal, nil
}

// templateError is a compile error of the expression src, which starts at
// byte offset offset of the templated string.
type templateError struct {
	offset int
	src    string
	err    error
}

func (e *templateError) Error() string { return e.err.Error() }

// compileString compiles a string that may contain {{ expr }} templates.
func compileString(s string) (*Value, error) {
	if !strings.Contains(s, "{{") {
		return &Value{literal: s}, nil
	}
	v := &Value{}
	rest := s
	offset := 0
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				v.parts = append(v.parts, part{text: rest})
			}
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, &templateError{offset: offset + i, err: fmt.Errorf("unclosed {{")}
		}
		if i > 0 {
			v.parts = append(v.parts, part{text: rest[:i]})
		}
		src := rest[i+2 : i+j]
		trimmed := strings.TrimSpace(src)
		if trimmed == "" {
			return nil, &templateError{offset: offset + i, err: fmt.Errorf("empty {{ }}")}
		}
		prog, err := compileExpr(trimmed)
		if err != nil {
			lead := len(src) - len(strings.TrimLeft(src, " \t\n"))
			return nil, &templateError{offset: offset + i + 2 + lead, src: trimmed, err: err}
		}
		v.parts = append(v.parts, part{prog: prog, src: strings.TrimSpace(src)})
		offset += i + j + 2
		rest = rest[i+j+2:]
	}
	v.whole = len(v.parts) == 1 && v.parts[0].prog != nil
	return v, nil
}

func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
