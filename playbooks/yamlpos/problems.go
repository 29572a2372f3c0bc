package yamlpos

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is what a List holds: one error at a place in a YAML file.
type Problem interface {
	error
	// Place returns the file and the 1-based line and column; the line is
	// 0 for a problem with no place (a value built in Go).
	Place() (file string, line, column int)
	// Invalid returns the sentinel every list of such problems wraps
	// (config.ErrInvalid, playbooks.ErrInvalid); it must not depend on
	// the problem, since an empty list asks the zero value.
	Invalid() error
}

// List is every problem one load found. Its Error is one problem per
// line, and errors.Is(list, sentinel) holds for P's Invalid sentinel.
type List[P Problem] []P

// Error returns one problem per line.
func (l List[P]) Error() string {
	lines := make([]string, len(l))
	for i, p := range l {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns P's Invalid sentinel, so that errors.Is holds for it.
func (l List[P]) Unwrap() error {
	var zero P
	return zero.Invalid()
}

// Sort orders l in place, stably: the problems with a place first, their
// files in the order they first appear in l and, inside a file, by line and
// column; the problems without a place after them, in their order.
func (l List[P]) Sort() {
	order := map[string]int{}
	for _, p := range l {
		if file, line, _ := p.Place(); line != 0 {
			if _, ok := order[file]; !ok {
				order[file] = len(order)
			}
		}
	}
	sort.SliceStable(l, func(i, j int) bool {
		af, al, ac := l[i].Place()
		bf, bl, bc := l[j].Place()
		if (al == 0) != (bl == 0) {
			return al != 0
		}
		if af != bf {
			return order[af] < order[bf]
		}
		if al != bl {
			return al < bl
		}
		return ac < bc
	})
}

// Dedupe drops, in place, each problem whose text an earlier one already
// has, and returns the shortened list.
func (l List[P]) Dedupe() List[P] {
	out := l[:0]
	seen := map[string]bool{}
	for _, p := range l {
		if k := p.Error(); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

// Format returns "file:line:col: scope: path: msg". The place is left out
// when line is 0 (a problem with no place), and scope and path each when
// empty.
func Format(file string, line, col int, scope, path, msg string) string {
	var b strings.Builder
	if line != 0 {
		fmt.Fprintf(&b, "%s:%d:%d: ", file, line, col)
	}
	for _, part := range []string{scope, path} {
		if part != "" {
			b.WriteString(part)
			b.WriteString(": ")
		}
	}
	b.WriteString(msg)
	return b.String()
}
