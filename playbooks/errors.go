package playbooks

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every validation error of a playbook set.
var ErrInvalid = errors.New("invalid playbooks")

// Problem is one validation error at a position in a file.
type Problem struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Playbook string `json:"playbook,omitempty"`
	// Path is the key path inside the playbook, such as steps[1].with.replicas.
	Path string `json:"path,omitempty"`
	Msg  string `json:"message"`
}

// Error returns "file:line:col: playbook "name": path: message".
func (p Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", p.File, p.Line, p.Column)
	if p.Playbook != "" {
		fmt.Fprintf(&b, "playbook %q: ", p.Playbook)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every validation error found in a load, in file order.
type Problems []Problem

// Error returns one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (ps Problems) Unwrap() error { return ErrInvalid }
