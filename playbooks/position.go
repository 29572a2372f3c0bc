package playbooks

import (
	"errors"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// compile compiles an expression held by node n and reports a failure at
// the position of the broken token inside the YAML file.
func (c *ctx) compile(n *yaml.Node, path, src string, opts ...expr.Option) *vm.Program {
	prog, err := expr.Compile(src, append(exprOptions(), opts...)...)
	if err != nil {
		line, col := c.position(n, 0, err)
		c.errorAt(line, col, path, exprMessage(err))
		return nil
	}
	return prog
}

// position maps an error inside a scalar's value (at byte offset base, plus
// the expr error's own line and column) to a line and column of the file.
func (c *ctx) position(n *yaml.Node, base int, err error) (int, int) {
	var fe *file.Error
	offset := base
	if errors.As(err, &fe) {
		offset += offsetOf(n.Value[base:], fe.Line, fe.Column)
	}
	return scalarPosition(n, offset)
}

// offsetOf converts expr's 1-based line and 0-based column to a byte offset.
func offsetOf(s string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(s[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	off += col
	if off > len(s) {
		off = len(s)
	}
	return off
}

// scalarPosition maps a byte offset inside a scalar's value to its file
// position. Plain and quoted scalars sit on the node's line (after the
// opening quote); block scalars (| and >) start on the next line, indented.
func scalarPosition(n *yaml.Node, offset int) (int, int) {
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		line := n.Line + 1
		indent := n.Column + 1
		val := n.Value
		if offset > len(val) {
			offset = len(val)
		}
		before := val[:offset]
		nl := strings.Count(before, "\n")
		if n.Style == yaml.FoldedStyle {
			// Folding turned line breaks into spaces; count them back
			// approximately: each folded line ends where a space replaced it.
			return line, indent + offset
		}
		last := strings.LastIndexByte(before, '\n')
		return line + nl, indent + (offset - last - 1)
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		return n.Line, n.Column + 1 + offset
	}
	return n.Line, n.Column + offset
}
