package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firebreak/firebreak/playbooks/yamlpos"
)

// mark is where a key and its value are in the file.
type mark struct{ keyLine, keyCol, line, col int }

// marks maps key paths (sources.grafana.auth.token_env, api.tokens[0]) to
// their positions in one file.
type marks struct {
	file string
	at   map[string]mark
}

// pos returns the position of path's value, or of its nearest ancestor
// present in the file; ok is false for a Config built in Go.
func (m *marks) pos(path string) (line, col int, ok bool) {
	if m == nil {
		return 0, 0, false
	}
	for p := path; ; {
		if mk, found := m.at[p]; found {
			return mk.line, mk.col, true
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			return 1, 1, true
		}
		p = p[:i]
	}
}

// maxNodes bounds the nodes a configuration may expand to through aliases.
const maxNodes = 100_000

// decoder decodes yaml.v3 nodes into Go values strictly: unknown and
// duplicate keys, wrong kinds and bad scalars are problems at their
// positions, and decoding goes on so that every problem is reported.
type decoder struct {
	marks    *marks
	problems Problems
	nodes    int
}

func (d *decoder) add(line, col int, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.marks.file, Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.add(n.Line, n.Column, path, format, args...)
}

// Parse decodes a configuration over the defaults. name is the file name
// the problems carry. It reports decoding problems only; Validate checks
// the values.
func Parse(name string, data []byte) (Config, error) {
	cfg := Defaults()
	d := &decoder{marks: &marks{file: name, at: map[string]mark{}}}
	cfg.marks = d.marks
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	switch {
	case errors.Is(err, io.EOF):
		return cfg, nil
	case err != nil:
		line, col, msg := yamlpos.SyntaxError(err, data)
		d.add(line, col, "", "%s", msg)
		return cfg, d.problems
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, "", "a configuration file holds one YAML document; found a second")
	}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if !(root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
			d.decode(root, reflect.ValueOf(&cfg).Elem(), "")
		}
	}
	if len(d.problems) > 0 {
		return cfg, sorted(d.problems)
	}
	return cfg, nil
}

// LoadFile reads and decodes the configuration file at path; see Parse.
func LoadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Defaults(), fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

var (
	durationType    = reflect.TypeOf(Duration(0))
	stdDurationType = reflect.TypeOf(time.Duration(0))
)

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.nodes++
	if d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errorf(n, path, "the configuration expands to more than %d YAML nodes through aliases", maxNodes)
		}
		return
	}
	n = yamlpos.Resolve(n)
	null := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	switch {
	case v.Type() == durationType || v.Type() == stdDurationType:
		if n.Kind != yaml.ScalarNode || null {
			d.errorf(n, path, "must be a duration such as \"15m\", got %s", yamlpos.KindName(n))
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.errorf(n, path, "must be a duration such as \"15m\", got %q", n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if null {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		if null {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "must be a mapping, got %s", yamlpos.KindName(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := yamlpos.Join(path, k.Value)
			if seen[k.Value] {
				d.errorf(k, p, "duplicate key")
				continue
			}
			seen[k.Value] = true
			d.mark(p, k, yamlpos.Resolve(val))
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, elem, p)
			v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
		}
	case reflect.Slice:
		if null {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "must be a list, got %s", yamlpos.KindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.mark(p, e, yamlpos.Resolve(e))
			d.decode(e, s.Index(i), p)
		}
		v.Set(s)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) mark(path string, k, v *yaml.Node) {
	d.marks.at[path] = mark{keyLine: k.Line, keyCol: k.Column, line: v.Line, col: v.Column}
}

// structure decodes a mapping into a struct by its yaml tags.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, got %s", yamlpos.KindName(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := yamlpos.Join(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			if repl, moved := renamed[p]; moved {
				d.errorf(k, p, "%s", repl)
			} else {
				d.errorf(k, p, "unknown key (allowed: %s)", strings.Join(names, ", "))
			}
			continue
		}
		if seen[k.Value] {
			d.errorf(k, p, "duplicate key")
			continue
		}
		seen[k.Value] = true
		d.mark(p, k, yamlpos.Resolve(val))
		d.decode(val, v.Field(idx), p)
	}
}

// scalar decodes strings, booleans and numbers, refusing the wrong kind.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "must be %s, got %s", want(v.Kind()), yamlpos.KindName(n))
		return
	}
	if n.Tag == "!!null" {
		v.SetZero()
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Tag != "!!bool" {
			d.errorf(n, path, "must be true or false, got %s", yamlpos.KindName(n))
			return
		}
		var b bool
		_ = n.Decode(&b)
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Tag != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.errorf(n, path, "must be an integer, got %s", yamlpos.KindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if n.Tag != "!!int" || n.Decode(&u) != nil || v.OverflowUint(u) {
			d.errorf(n, path, "must be a non-negative integer, got %s", yamlpos.KindName(n))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		if (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
			d.errorf(n, path, "must be a number, got %s", yamlpos.KindName(n))
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "cannot be decoded (%s)", v.Type())
	}
}

func want(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "an integer"
}
