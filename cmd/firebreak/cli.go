package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `firebreak — incident-response automation engine

Usage:
  firebreak serve [--config FILE] [--listen ADDR] [--data-dir DIR] [--playbooks DIR] [--log-format text|json] [--dry-run]
  firebreak validate DIR|FILE…
  firebreak audit list [--data-dir DIR] [--addr ADDR] [--event-id ID] [--playbook NAME] [--limit N] [--json]
  firebreak audit verify [--data-dir DIR] [--addr ADDR]
  firebreak actions [--json]
  firebreak version
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
		if len(args) < 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		switch args[1] {
		case "list":
			return cmdAuditList(args[2:], stdout, stderr)
		case "verify":
			return cmdAuditVerify(args[2:], stdout, stderr)
		}
	case "actions":
		return cmdActions(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "firebreak", version)
		return 0
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
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := app.Defaults()
	if *configPath != "" {
		var err error
		if cfg, err = app.LoadConfig(*configPath); err != nil {
			fmt.Fprintln(stderr, "firebreak:", err)
			return 1
		}
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
	a, err := app.Start(ctx, cfg, log, app.Options{})
	if err != nil {
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

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: firebreak validate DIR|FILE…")
		return 2
	}
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	set, err := playbooks.LoadPaths(reg, args...)
	if err != nil {
		var ps playbooks.Problems
		if errors.As(err, &ps) {
			fmt.Fprintln(stderr, ps.Error())
			fmt.Fprintf(stderr, "%d problem(s)\n", len(ps))
			return 1
		}
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	steps := 0
	for _, p := range set.Playbooks {
		steps += len(p.Steps) + len(p.OnResolved)
	}
	fmt.Fprintf(stdout, "ok: %d playbook(s), %d step(s) in %s\n", set.Len(), steps, strings.Join(args, " "))
	return 0
}

// openAudit opens the database read-only, or returns ErrLocked when a
// running server holds it (the caller then asks the server's API).
func openAudit(dataDir string) (*store.DB, error) {
	return store.Open(dataDir+"/firebreak.db", store.Options{ReadOnly: true, LockTimeout: 300 * time.Millisecond})
}

func cmdAuditList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "data", "data directory")
	addr := fs.String("addr", "127.0.0.1:9095", "server address, used when the database is held by a running server")
	eventID := fs.String("event-id", "", "only records of this event")
	playbook := fs.String("playbook", "", "only records of this playbook")
	kind := fs.String("kind", "", "only records of this kind (event.received, step.succeeded, …)")
	limit := fs.Int("limit", 1000, "at most this many records")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	q := store.AuditQuery{EventID: *eventID, Playbook: *playbook, Kind: *kind, Limit: *limit}
	var recs []audit.Record
	db, err := openAudit(*dataDir)
	switch {
	case err == nil:
		recs, _, err = db.ListAudit(context.Background(), q)
		_ = db.Close()
	case errors.Is(err, store.ErrLocked):
		recs, err = fetchAudit(*addr, q)
	}
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	for _, r := range recs {
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintln(stdout, formatRecord(r))
	}
	return 0
}

func formatRecord(r audit.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6d %s %-17s", r.Seq, r.Time.Format(time.RFC3339), r.Kind)
	for _, kv := range [][2]string{{"event", r.EventID}, {"playbook", r.Playbook}, {"action", r.Action}, {"target", r.Target}, {"outcome", r.Outcome}, {"actor", r.Actor}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if r.Step != nil {
		fmt.Fprintf(&b, " step=%d", *r.Step)
	}
	if r.Message != "" {
		fmt.Fprintf(&b, " — %s", r.Message)
	}
	return b.String()
}

func fetchAudit(addr string, q store.AuditQuery) ([]audit.Record, error) {
	v := url.Values{}
	for k, val := range map[string]string{"event_id": q.EventID, "playbook": q.Playbook, "kind": q.Kind} {
		if val != "" {
			v.Set(k, val)
		}
	}
	var out []audit.Record
	cursor := ""
	for len(out) < q.Limit {
		v.Set("limit", fmt.Sprint(min(1000, q.Limit-len(out))))
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		var page struct {
			Records    []audit.Record `json:"records"`
			NextCursor string         `json:"next_cursor"`
		}
		if err := getJSON("http://"+addr+"/api/v1/audit?"+v.Encode(), &page); err != nil {
			return nil, err
		}
		out = append(out, page.Records...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return out, nil
}

func getJSON(u string, dst any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return fmt.Errorf("the database is in use and the server did not answer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("server answered %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(dst)
}

func cmdAuditVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "data", "data directory")
	addr := fs.String("addr", "127.0.0.1:9095", "server address, used when the database is held by a running server")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	db, err := openAudit(*dataDir)
	if errors.Is(err, store.ErrLocked) {
		var res struct {
			OK      bool   `json:"ok"`
			Records int    `json:"records"`
			Error   string `json:"error"`
		}
		if err := getJSON("http://"+*addr+"/api/v1/audit/verify", &res); err != nil {
			fmt.Fprintln(stderr, "firebreak:", err)
			return 1
		}
		if !res.OK {
			fmt.Fprintln(stderr, "audit trail NOT intact:", res.Error)
			return 1
		}
		fmt.Fprintf(stdout, "audit trail intact: %d records\n", res.Records)
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	defer db.Close()
	n, err := db.VerifyAudit(context.Background())
	if err != nil {
		fmt.Fprintln(stderr, "audit trail NOT intact:", err)
		return 1
	}
	fmt.Fprintf(stdout, "audit trail intact: %d records\n", n)
	return 0
}

func cmdActions(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("actions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the catalogue as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
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
