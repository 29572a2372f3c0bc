package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/internal/gctune"
)

const usage = `firebreak — incident-response automation engine

Usage:
  firebreak serve [--config FILE] [--listen ADDR] [--data-dir DIR] [--playbooks DIR] [--log-format text|json] [--dry-run]
  firebreak validate [--config FILE] [DIR|FILE…]
  firebreak test FILE…
  firebreak schema
  firebreak audit list [--config FILE] [--data-dir DIR] [--addr ADDR] [--since T] [--until T] [--event-id ID] [--playbook NAME]
                       [--action ID] [--kind KIND] [--outcome O | --reason R] [--limit N] [--cursor SEQ] [--json]
  firebreak audit show EVENT_ID [--config FILE] [--data-dir DIR] [--addr ADDR] [--json]
  firebreak audit export [--since T] [--until T] [filters as for list] [--format jsonl]
  firebreak audit verify [--config FILE] [--data-dir DIR] [--addr ADDR] [--public-key FILE [--witness FILE]]
  firebreak audit keygen [--out FILE] [--public-out FILE]
  firebreak replay [--since 24h] [--until T] [--playbooks DIR|FILE] [--config FILE] [--data-dir DIR] [--addr ADDR] [--all] [--json]
  firebreak approvals list [--config FILE] [--data-dir DIR] [--addr ADDR] [--status STATUS | --all] [--json] [--token-env VAR]
  firebreak dlq list|retry ID [--force]|discard ID --reason TEXT [--addr ADDR]
  firebreak actions [--json]
  firebreak rbac [--config FILE] [--playbooks DIR]
  firebreak store migrate --from-data-dir DIR --config FILE
  firebreak version

--data-dir alone reads that directory's database file; --addr alone asks that
server's API; with neither (or both) the file is read and, while a running
server holds it, the server is asked. --config alone reads the store its file
names: the cluster's etcd store with store.etcd, else its data_dir.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(args[1:], stdout, stderr)
	case "actions":
		return cmdActions(args[1:], stdout, stderr)
	case "test":
		return cmdTest(args[1:], stdout, stderr)
	case "schema":
		return cmdSchema(args[1:], stdout, stderr)
	case "replay":
		return cmdReplay(args[1:], stdout, stderr)
	case "approvals":
		return cmdApprovals(args[1:], stdout, stderr)
	case "dlq":
		return cmdDLQ(args[1:], stdout, stderr)
	case "rbac":
		return cmdRBAC(args[1:], stdout, stderr)
	case "store":
		return cmdStore(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		return cmdVersion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "firebreak: unknown command %q\n\n%s", strings.Join(args, " "), usage)
	return 2
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: must be debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: must be text or json", format)
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML)")
	listen := fs.String("listen", "", "listen address (default 127.0.0.1:9095)")
	dataDir := fs.String("data-dir", "", "data directory (default ./data)")
	pbDir := fs.String("playbooks", "", "playbook directory or file (default: the embedded examples)")
	logFormat := fs.String("log-format", "", "log format: text or json")
	dryRun := fs.Bool("dry-run", false, "plan and audit every step, execute none")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	cfg, err := configOrDefaults(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	// Flags override the file, which overrides the defaults.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			cfg.Listen = *listen
		case "data-dir":
			cfg.DataDir = *dataDir
		case "playbooks":
			cfg.Playbooks = []string{*pbDir}
		case "log-format":
			cfg.LogFormat = *logFormat
		case "dry-run":
			cfg.DryRun = *dryRun
		}
	})
	log, err := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tuned, stopGC := gctune.Start(log)
	defer stopGC()
	if tuned {
		log.Debug("garbage collector tuned", "gc_percent", gctune.Percent, "soft_limit_floor_bytes", gctune.Floor)
	}
	a, err := app.Start(ctx, cfg, log, app.Options{})
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			// One problem per line, as validate prints them.
			fmt.Fprintf(stderr, "%s\nfirebreak: %d problem(s) in the configuration\n", ps.Error(), len(ps))
			return 1
		}
		log.Error("start failed", "error", err)
		return 1
	}
	<-ctx.Done()
	log.Info("shutting down")
	if err := a.Close(); err != nil {
		log.Error("shutdown", "error", err)
		return 1
	}
	return 0
}

func cmdActions(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("actions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the catalogue as JSON")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(reg.Specs())
		return 0
	}
	fmt.Fprint(stdout, ActionsMarkdown(reg.Specs()))
	return 0
}

// configOrDefaults reads the configuration file at path, or returns the
// embedded defaults when no file is named.
func configOrDefaults(path string) (app.Config, error) {
	if path == "" {
		return app.Defaults(), nil
	}
	return app.LoadConfig(path)
}
