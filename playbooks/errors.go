package playbooks

import (
	"errors"
	"fmt"

	"github.com/firebreak/firebreak/playbooks/yamlpos"
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
	scope := ""
	if p.Playbook != "" {
		scope = fmt.Sprintf("playbook %q", p.Playbook)
	}
	return yamlpos.Format(p.File, p.Line, p.Column, scope, p.Path, p.Msg)
}

// Place returns the problem's file, line and column.
func (p Problem) Place() (string, int, int) { return p.File, p.Line, p.Column }

// Invalid returns ErrInvalid, which every Problems wraps.
func (Problem) Invalid() error { return ErrInvalid }

// Problems is every validation error found in a load, in file order. Its
// Error is one problem per line; errors.Is(err, ErrInvalid) holds.
type Problems = yamlpos.List[Problem]
