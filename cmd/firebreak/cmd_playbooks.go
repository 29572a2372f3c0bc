package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/playbooks/playtest"
	"github.com/firebreak/firebreak/web/sources"
)

// cmdTest runs offline playbook tests: every case's events are matched and
// planned against the playbooks, and the decisions compared with the
// expected ones. Nothing runs and nothing is written.
func cmdTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pbs multiFlag
	fs.Var(&pbs, "playbooks", "playbook file or directory for test files that list none (repeatable)")
	verbose := fs.Bool("v", false, "list passing tests too")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: firebreak test [--playbooks PATH]… [-v] TEST_FILE…")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	decoders := map[string]playtest.Decoder{}
	for name, d := range sources.Builtin() {
		decoders[name] = d
	}
	opts := playtest.Options{Catalog: reg, Decoders: decoders, Playbooks: pbs}
	total, failed, broken := 0, 0, 0
	files, err := testFiles(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	for _, path := range files {
		rep, err := playtest.RunFile(path, opts)
		if err != nil {
			broken++
			var ps playbooks.Problems
			if errors.As(err, &ps) {
				fmt.Fprintf(stderr, "%s: the playbooks do not load:\n%s\n", path, ps.Error())
			} else {
				fmt.Fprintf(stderr, "%s: %v\n", path, err)
			}
			continue
		}
		for _, r := range rep.Results {
			total++
			switch {
			case r.Err != nil:
				failed++
				fmt.Fprintf(stdout, "FAIL %s: %s\n  %v\n", path, r.Name, r.Err)
			case r.Diff != "":
				failed++
				fmt.Fprintf(stdout, "FAIL %s: %s\n%s", path, r.Name, indentText(r.Diff, "  "))
			case *verbose:
				fmt.Fprintf(stdout, "ok   %s: %s\n", path, r.Name)
			}
		}
	}
	switch {
	case broken > 0:
		fmt.Fprintf(stderr, "FAIL: %d test file(s) could not be run; %d of %d test(s) failed\n", broken, failed, total)
		return 1
	case failed > 0:
		fmt.Fprintf(stdout, "FAIL: %d of %d test(s) failed\n", failed, total)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %d test(s) passed in %d file(s)\n", total, len(files))
	return 0
}

// testFiles expands directories into the *.test.yaml and *.test.yml files
// they hold (recursively); files are taken as they are.
func testFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, a)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".test.yaml") || strings.HasSuffix(p, ".test.yml")) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("no *.test.yaml files in %s", a)
		}
	}
	return out, nil
}

func indentText(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

// Set implements flag.Value.
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// cmdSchema prints the playbook JSON Schema, with the registry's actions and
// their parameters, for editors (yaml-language-server).
func cmdSchema(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(playbooks.Schema(reg.Specs())); err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	return 0
}
