package playbooks

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// compile compiles an expression held by node n and reports a failure at
// the position of the broken token inside the YAML file.
func (c *ctx) compile(n *yaml.Node, path, src string, opts ...expr.Option) *vm.Program {
	prog, err := compileExpr(src, opts...)
	if err != nil {
		c.exprError(n, 0, src, path, err)
		return nil
	}
	return prog
}

// compileExpr compiles src with the playbook environment and checks the
// constant arguments of the helpers.
func compileExpr(src string, opts ...expr.Option) (*vm.Program, error) {
	prog, err := expr.Compile(src, append(slices.Clip(exprOptions()), opts...)...)
	if err != nil {
		return nil, err
	}
	if node, err := constantArgs(prog.Node()); err != nil {
		return nil, &nodeError{node: node, err: err}
	}
	return prog, nil
}

// nodeError is a problem found after compiling, at an AST node.
type nodeError struct {
	node ast.Node
	err  error
}

func (e *nodeError) Error() string { return e.err.Error() }

// exprError reports err, a failure of the expression src that starts at byte
// offset base of n's value, at its position in the file.
func (c *ctx) exprError(n *yaml.Node, base int, src, path string, err error) {
	off := base + exprOffset(src, err)
	line, col := c.locate(n, off)
	c.errorAt(line, col, path, exprMessage(err))
}

// exprOffset returns the byte offset inside src that err points at.
func exprOffset(src string, err error) int {
	var fe *file.Error
	var ne *nodeError
	switch {
	case errors.As(err, &ne):
		return runeOffset(src, ne.node.Location().From)
	case errors.As(err, &fe) && fe.Line > 0:
		return lineColOffset(src, fe.Line, fe.Column)
	}
	return 0
}

// lineColOffset converts expr's 1-based line and 0-based rune column to a
// byte offset of s.
func lineColOffset(s string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(s[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	return off + runeOffset(s[off:], col)
}

// runeOffset returns the byte offset of the n-th rune of s.
func runeOffset(s string, n int) int {
	off := 0
	for i := 0; i < n && off < len(s); i++ {
		_, size := utf8.DecodeRuneInString(s[off:])
		off += size
	}
	return off
}

// locate maps a byte offset inside a scalar's decoded value to its 1-based
// line and column (in characters) in the file. It walks the source text and
// the value side by side, so folding (> and multi-line plain or quoted
// scalars), block indentation, escapes ("\t", "\u00e9", a backslash at the
// end of a line) and doubled single quotes are all accounted for.
func (c *ctx) locate(n *yaml.Node, off int) (int, int) {
	if n.Kind != yaml.ScalarNode || len(c.lines) == 0 {
		return n.Line, n.Column
	}
	val := n.Value
	if off > len(val) {
		off = len(val)
	}
	li, bi := n.Line-1, 0
	double := n.Style&yaml.DoubleQuotedStyle != 0
	single := n.Style&yaml.SingleQuotedStyle != 0
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		li++ // the content starts on the line after the | or > header
	case li < len(c.lines):
		line := c.lines[li]
		bi = runeOffset(line, n.Column-1)
		// Skip the node's properties: an anchor (&a) and a tag (!!str).
		for bi < len(line) && (line[bi] == '&' || line[bi] == '!') {
			for bi < len(line) && !isSpace(line[bi]) {
				bi++
			}
			for bi < len(line) && isSpace(line[bi]) {
				bi++
			}
		}
		if double || single {
			bi++
		}
	}
	vi := 0
	// src returns the source byte at (li, bi); a line end reads as '\n'.
	src := func() (byte, bool) {
		if li >= len(c.lines) {
			return 0, false
		}
		if bi >= len(c.lines[li]) {
			return '\n', true
		}
		return c.lines[li][bi], true
	}
	next := func() {
		if bi >= len(c.lines[li]) {
			li, bi = li+1, 0
			return
		}
		bi++
	}
walk:
	for vi < off {
		sc, ok := src()
		if !ok {
			break
		}
		vc := val[vi]
		switch {
		case double && sc == '\\':
			line := c.lines[li]
			if bi+1 >= len(line) { // escaped line break: nothing in the value
				li, bi = li+1, 0
				continue
			}
			bi += 1 + escapeLen(line[bi+1])
			_, size := utf8.DecodeRuneInString(val[vi:])
			vi += size
		case single && sc == '\'' && bi+1 < len(c.lines[li]) && c.lines[li][bi+1] == '\'':
			bi += 2
			vi++
		case sc == vc:
			next()
			vi++
		case isSpace(sc):
			next()
		case isSpace(vc):
			vi++
		default:
			break walk
		}
	}
	// Skip the indentation or folded line break in front of the token.
	if off < len(val) && !isSpace(val[off]) {
		for {
			sc, ok := src()
			if !ok {
				break
			}
			if double && sc == '\\' && bi+1 >= len(c.lines[li]) {
				li, bi = li+1, 0
				continue
			}
			if !isSpace(sc) {
				break
			}
			next()
		}
	}
	if li >= len(c.lines) {
		return n.Line, n.Column
	}
	line := c.lines[li]
	if bi > len(line) {
		bi = len(line)
	}
	return li + 1, utf8.RuneCountInString(line[:bi]) + 1
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// escapeLen is how many source bytes follow the backslash of a YAML
// double-quoted escape that starts with b.
func escapeLen(b byte) int {
	switch b {
	case 'x':
		return 3
	case 'u':
		return 5
	case 'U':
		return 9
	}
	return 1
}

// splitLines splits a file into lines without their line breaks.
func splitLines(data []byte) []string {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return strings.Split(s, "\n")
}
