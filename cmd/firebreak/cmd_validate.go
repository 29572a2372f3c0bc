package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/playbooks"
)

// cmdValidate checks playbooks, and with --config a configuration file
// and its playbooks together: every problem of both is printed, one per
// line as file:line:col: …, and nothing is opened or started.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file to validate with the playbooks (its playbooks: when none are given)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: firebreak validate [--config FILE] [DIR|FILE…]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	paths := fs.Args()
	if len(paths) == 0 && *configPath == "" {
		fs.Usage()
		return 2
	}
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	var lines []string
	cfg := config.Defaults()
	if *configPath != "" {
		cfg, _, err = config.Load(*configPath, reg)
		var ps config.Problems
		switch {
		case errors.As(err, &ps):
			for _, p := range ps {
				lines = append(lines, p.Error())
			}
		case err != nil:
			fmt.Fprintln(stderr, "firebreak:", err)
			return 1
		}
		if len(paths) == 0 {
			paths = cfg.Playbooks
		}
	}
	var set *playbooks.Set
	where := strings.Join(paths, " ")
	if len(paths) == 0 {
		set, where, err = app.LoadPlaybooks(cfg, reg)
	} else {
		set, err = playbooks.LoadPaths(reg, paths...)
	}
	if err != nil {
		var ps playbooks.Problems
		if !errors.As(err, &ps) {
			fmt.Fprintln(stderr, "firebreak:", err)
			return 1
		}
		for _, p := range ps {
			lines = append(lines, p.Error())
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(stderr, strings.Join(lines, "\n"))
		fmt.Fprintf(stderr, "%d problem(s)\n", len(lines))
		return 1
	}
	steps := 0
	for _, p := range set.Playbooks {
		steps += len(p.Steps) + len(p.OnResolved)
	}
	if *configPath != "" {
		fmt.Fprintf(stdout, "ok: %s, %d playbook(s), %d step(s) in %s\n", *configPath, set.Len(), steps, where)
		return 0
	}
	fmt.Fprintf(stdout, "ok: %d playbook(s), %d step(s) in %s\n", set.Len(), steps, where)
	return 0
}
