package config

import (
	"errors"

	"github.com/firebreak/firebreak/playbooks/yamlpos"
)

// ErrInvalid is wrapped by every Problems: errors.Is(err, ErrInvalid) holds
// for any configuration error.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one configuration error at a position of the file.
type Problem struct {
	// File is the configuration file; empty for a Config built in Go.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Path is the key path, such as api.tokens[0].role.
	Path string `json:"path,omitempty"`
	Msg  string `json:"message"`
}

// Error returns "file:line:col: key.path: message" (without the position
// when the Config was not read from a file).
func (p Problem) Error() string {
	return yamlpos.Format(p.File, p.Line, p.Column, "", p.Path, p.Msg)
}

// Place returns the problem's file, line and column (line 0: none).
func (p Problem) Place() (string, int, int) { return p.File, p.Line, p.Column }

// Invalid returns ErrInvalid, which every Problems wraps.
func (Problem) Invalid() error { return ErrInvalid }

// Problems is every error found in a configuration, in file order. Its
// Error is one problem per line; errors.Is(err, ErrInvalid) holds.
type Problems = yamlpos.List[Problem]

// sorted orders problems by position (problems without one keep their
// order, after the positioned ones) and drops exact duplicates.
func sorted(ps Problems) Problems {
	ps.Sort()
	return ps.Dedupe()
}
