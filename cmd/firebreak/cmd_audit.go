package main

import (
	"bufio"
	"bytes"
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
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/replay"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

// cmdAudit dispatches the audit subcommands.
func cmdAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "list":
		return cmdAuditList(args[1:], stdout, stderr)
	case "show":
		return cmdAuditShow(args[1:], stdout, stderr)
	case "export":
		return cmdAuditExport(args[1:], stdout, stderr)
	case "verify":
		return cmdAuditVerify(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "firebreak: unknown audit command %q\n\n%s", args[0], usage)
	return 2
}

// openAudit opens the database read-only, or returns ErrLocked when a
// running server holds it (the caller then asks the server's API).
func openAudit(dataDir string) (*store.DB, error) {
	return store.Open(dataDir+"/firebreak.db", store.Options{ReadOnly: true, LockTimeout: 300 * time.Millisecond})
}

// queryFlags are the audit filters list and export share.
type queryFlags struct {
	dataDir, addr                                 *string
	since, until                                  *string
	eventID, playbook, action, kind, outcome, rsn *string
}

func addQueryFlags(fs *flag.FlagSet) *queryFlags {
	return &queryFlags{
		dataDir:  fs.String("data-dir", "data", "data directory"),
		addr:     fs.String("addr", "127.0.0.1:9095", "server address, used when the database is held by a running server"),
		since:    fs.String("since", "", "only records at or after this time: RFC 3339 or a duration ago (24h)"),
		until:    fs.String("until", "", "only records before this time: RFC 3339 or a duration ago"),
		eventID:  fs.String("event-id", "", "only records of this event"),
		playbook: fs.String("playbook", "", "only records of this playbook"),
		action:   fs.String("action", "", "only records of this action (kubernetes.restart, …)"),
		kind:     fs.String("kind", "", "only records of this kind (event.received, step.succeeded, step.refused, …)"),
		outcome:  fs.String("outcome", "", "only records with this outcome (ok, failed, dry_run, …)"),
		rsn:      fs.String("reason", "", "only refusals for this reason (deduped, budget_exhausted, breaker_open, …); same as --outcome"),
	}
}

func (f *queryFlags) query(now time.Time) (audit.Query, error) {
	q := audit.Query{EventID: *f.eventID, Playbook: *f.playbook, Action: *f.action, Kind: *f.kind, Outcome: *f.outcome}
	if q.Outcome == "" {
		q.Outcome = *f.rsn
	}
	var err error
	if *f.since != "" {
		if q.Since, err = app.ParseSince(*f.since, now, 0); err != nil {
			return q, fmt.Errorf("--since: %w", err)
		}
	}
	if *f.until != "" {
		if q.Until, err = app.ParseSince(*f.until, now, 0); err != nil {
			return q, fmt.Errorf("--until: %w", err)
		}
	}
	return q, nil
}

// auditPager returns one page of records at a time, from the file or,
// when a server holds it, from GET /api/v1/audit.
type auditPager struct {
	db   *store.DB
	addr string
}

func newAuditPager(dataDir, addr string) (*auditPager, error) {
	db, err := openAudit(dataDir)
	switch {
	case err == nil:
		return &auditPager{db: db}, nil
	case errors.Is(err, store.ErrLocked):
		return &auditPager{addr: addr}, nil
	}
	return nil, err
}

func (p *auditPager) Close() {
	if p.db != nil {
		_ = p.db.Close()
	}
}

func (p *auditPager) page(ctx context.Context, q audit.Query) ([]audit.Record, uint64, error) {
	if p.db != nil {
		return p.db.ListAudit(ctx, q)
	}
	v := url.Values{}
	for k, val := range map[string]string{"event_id": q.EventID, "playbook": q.Playbook, "action": q.Action, "kind": q.Kind, "outcome": q.Outcome} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	v.Set("limit", strconv.Itoa(min(max(q.Limit, 1), 1000)))
	if q.After != 0 {
		v.Set("cursor", strconv.FormatUint(q.After, 10))
	}
	var page struct {
		Records    []audit.Record `json:"records"`
		NextCursor string         `json:"next_cursor"`
	}
	if err := getJSON("http://"+p.addr+"/api/v1/audit?"+v.Encode(), &page); err != nil {
		return nil, 0, err
	}
	var next uint64
	if page.NextCursor != "" {
		n, err := strconv.ParseUint(page.NextCursor, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("server sent cursor %q: %w", page.NextCursor, err)
		}
		next = n
	}
	return page.Records, next, nil
}

func cmdAuditList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	qf := addQueryFlags(fs)
	limit := fs.Int("limit", 100, "records per page (1-1000)")
	cursor := fs.Uint64("cursor", 0, "continue after this record sequence (printed at the end of a page)")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *limit < 1 || *limit > 1000 {
		fmt.Fprintln(stderr, "firebreak: --limit must be between 1 and 1000")
		return 2
	}
	q, err := qf.query(time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 2
	}
	q.Limit, q.After = *limit, *cursor
	p, err := newAuditPager(*qf.dataDir, *qf.addr)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	defer p.Close()
	recs, next, err := p.page(context.Background(), q)
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
	if next != 0 {
		fmt.Fprintf(stderr, "more records: repeat with --cursor %d\n", next)
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

func cmdAuditExport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	qf := addQueryFlags(fs)
	format := fs.String("format", "jsonl", "output format: jsonl (one record per line, as stored: seq, prev and all)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *format != "jsonl" {
		fmt.Fprintf(stderr, "firebreak: --format %q: only jsonl is supported\n", *format)
		return 2
	}
	q, err := qf.query(time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 2
	}
	p, err := newAuditPager(*qf.dataDir, *qf.addr)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	defer p.Close()
	w := bufio.NewWriter(stdout)
	q.Limit = 1000
	n := 0
	for {
		recs, next, err := p.page(context.Background(), q)
		if err != nil {
			_ = w.Flush()
			fmt.Fprintf(stderr, "firebreak: export stopped after %d records: %v\n", n, err)
			return 1
		}
		for _, r := range recs {
			b, err := json.Marshal(r)
			if err != nil {
				fmt.Fprintf(stderr, "firebreak: record %d: %v\n", r.Seq, err)
				return 1
			}
			w.Write(b)
			w.WriteByte('\n')
			n++
		}
		if next == 0 {
			break
		}
		q.After = next
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	fmt.Fprintf(stderr, "exported %d records\n", n)
	return 0
}

func cmdAuditShow(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "data", "data directory")
	addr := fs.String("addr", "127.0.0.1:9095", "server address, used when the database is held by a running server")
	asJSON := fs.Bool("json", false, "print the timeline as JSON")
	// Accept the event id before or after the flags.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if id == "" {
		fmt.Fprintln(stderr, "usage: firebreak audit show EVENT_ID [--data-dir DIR] [--addr ADDR] [--json]")
		return 2
	}
	var tl app.Timeline
	db, err := openAudit(*dataDir)
	switch {
	case err == nil:
		tl, err = app.TimelineOf(context.Background(), db, id)
		_ = db.Close()
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(stderr, "firebreak: no event %q in the inbox or the audit trail\n", id)
			return 1
		}
		if err != nil {
			fmt.Fprintln(stderr, "firebreak:", err)
			return 1
		}
	case errors.Is(err, store.ErrLocked):
		if err := getJSON("http://"+*addr+"/api/v1/audit/timeline/"+url.PathEscape(id), &tl); err != nil {
			if strings.Contains(err.Error(), "404") {
				fmt.Fprintf(stderr, "firebreak: no event %q in the inbox or the audit trail\n", id)
				return 1
			}
			fmt.Fprintln(stderr, "firebreak:", err)
			return 1
		}
	default:
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(tl)
		return 0
	}
	printTimeline(stdout, id, tl)
	return 0
}

// ruleRefs finds the event fields a rule reads: event.name,
// event.labels.namespace, event.labels["app.kubernetes.io/name"].
var ruleRefs = regexp.MustCompile(`\bevent\.([a-z_]+)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\["([^"]+)"\])?`)

// ruleValues returns "path=value" for each event field the rule reads.
func ruleValues(rule string, ev map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ruleRefs.FindAllStringSubmatch(rule, -1) {
		path, v := "event."+m[1], ev[m[1]]
		if sub := m[2] + m[3]; sub != "" {
			if mm, ok := v.(map[string]any); ok {
				path, v = path+"."+sub, mm[sub]
			}
		}
		if seen[path] {
			continue
		}
		seen[path] = true
		b, _ := json.Marshal(v)
		if v == nil {
			b = []byte("(absent)")
		}
		out = append(out, path+"="+string(b))
	}
	return out
}

// sawValues formats the recorded values in the order the rule reads them.
func sawValues(rule string, saw map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ruleRefs.FindAllStringSubmatch(rule, -1) {
		path := "event." + m[1]
		if sub := m[2] + m[3]; sub != "" {
			path += "." + sub
		}
		v, ok := saw[path]
		if !ok || seen[path] {
			continue
		}
		seen[path] = true
		b, _ := json.Marshal(v)
		if v == nil {
			b = []byte("(absent)")
		}
		out = append(out, path+"="+string(b))
	}
	return out
}

func printTimeline(w io.Writer, id string, tl app.Timeline) {
	var evMap map[string]any
	if tl.Event != nil {
		ev := tl.Event.Event
		ev.Raw = nil
		b, _ := json.Marshal(ev)
		_ = json.Unmarshal(b, &evMap)
		fmt.Fprintf(w, "Event %s (inbox #%d)\n", id, tl.Event.Seq)
		fmt.Fprintf(w, "  %s %s, severity %s, from %s\n", ev.Name, ev.Status, ev.Severity, ev.Source)
		if len(ev.Labels) > 0 {
			fmt.Fprintf(w, "  labels: %s\n", kvs(ev.Labels))
		}
		fmt.Fprintf(w, "  started %s, received %s\n", ev.StartsAt.Format(time.RFC3339), ev.ReceivedAt.Format(time.RFC3339Nano))
	} else {
		fmt.Fprintf(w, "Event %s (no longer in the inbox)\n", id)
	}
	fmt.Fprintln(w)
	approvals := map[string]approval.Approval{}
	for _, ap := range tl.Approvals {
		approvals[ap.ID] = ap
	}
	for _, r := range tl.Records {
		stage, head := timelineStage(r)
		fmt.Fprintf(w, "%s  %-9s %s\n", r.Time.Format("2006-01-02 15:04:05.000"), stage, head)
		detail := func(format string, args ...any) {
			fmt.Fprintf(w, "%25s %s\n", "", fmt.Sprintf(format, args...))
		}
		switch r.Kind {
		case audit.KindReceived:
			if evMap == nil {
				if l, ok := r.Data["labels"].(map[string]any); ok {
					detail("labels: %s", kvsAny(l))
				}
			}
		case audit.KindMatched:
			rule, _ := r.Data["rule"].(string)
			detail("rule: %s", strings.Join(strings.Fields(rule), " "))
			// The engine records what the rule saw; older records lack it,
			// and the stored event (while the inbox keeps it) stands in.
			if saw, ok := r.Data["saw"].(map[string]any); ok {
				if vals := sawValues(rule, saw); len(vals) > 0 {
					detail("saw:  %s", strings.Join(vals, " "))
				}
			} else if evMap != nil {
				if vals := ruleValues(rule, evMap); len(vals) > 0 {
					detail("saw:  %s", strings.Join(vals, " "))
				}
			}
		}
		if g, ok := r.Data["guards"].([]any); ok {
			for _, v := range g {
				if m, ok := v.(map[string]any); ok {
					detail("guard %v: %v %v", m["guard"], m["verdict"], m["detail"])
				}
			}
		}
		if p, ok := r.Data["params"]; ok && (r.Kind == audit.KindStepStarted || r.Kind == audit.KindStepDryRun || r.Kind == audit.KindApproval && r.Outcome == "requested") {
			b, _ := json.Marshal(p)
			detail("request: %s", b)
		}
		if r.Kind == audit.KindApproval {
			apID, _ := r.Data["approval_id"].(string)
			if r.Outcome == "requested" {
				apID = strings.TrimPrefix(r.Message, "waiting for approval ")
			}
			ap, known := approvals[apID]
			switch {
			case known && r.Outcome == "requested":
				for _, g := range ap.Guards {
					detail("%s", strings.TrimSpace(fmt.Sprintf("guard verdict at request: %s %s %s", g.Guard, g.Verdict, g.Detail)))
				}
				detail("needs %d approver(s), expires %s", max(ap.Required, 1), ap.ExpiresAt.Format(time.RFC3339))
			case known:
				for _, v := range ap.Approvals {
					detail("approved by %s via %s at %s", voter(v), v.Via, v.At.Format(time.RFC3339))
				}
				if ap.DecidedBy != nil && ap.Status != approval.StatusApproved {
					detail("%s by %s via %s at %s", ap.Status, voter(*ap.DecidedBy), ap.DecidedBy.Via, ap.DecidedBy.At.Format(time.RFC3339))
				}
				if !ap.DecidedAt.IsZero() && !ap.RequestedAt.IsZero() {
					detail("decided %s after the request", ap.DecidedAt.Sub(ap.RequestedAt).Round(time.Second))
				}
			default:
				if by, ok := r.Data["approvals"].([]any); ok && len(by) > 0 {
					detail("approved by: %v", by)
				}
			}
		}
		if r.Kind == audit.KindStepSucceeded || r.Kind == audit.KindStepFailed {
			var parts []string
			if n, ok := r.Data["attempts"]; ok {
				parts = append(parts, fmt.Sprintf("%v attempt(s)", n))
			}
			if d, ok := r.Data["duration_ms"]; ok {
				parts = append(parts, fmt.Sprintf("%v ms", d))
			}
			if len(parts) > 0 {
				detail("%s", strings.Join(parts, ", "))
			}
		}
	}
}

func voter(v approval.Vote) string {
	if v.Name != "" && v.Name != v.By {
		return v.Name + " (" + v.By + ")"
	}
	return v.By
}

// timelineStage names the stage of the incident a record belongs to and
// formats its headline.
func timelineStage(r audit.Record) (string, string) {
	var b strings.Builder
	if r.Playbook != "" {
		b.WriteString(r.Playbook)
	}
	if r.Step != nil {
		fmt.Fprintf(&b, " step %d", *r.Step)
	}
	if r.Action != "" {
		fmt.Fprintf(&b, " %s", r.Action)
	}
	if r.Target != "" {
		fmt.Fprintf(&b, " on %s", r.Target)
	}
	if b.Len() > 0 {
		b.WriteString(" → ")
	}
	b.WriteString(r.Outcome)
	if r.Actor != "" {
		fmt.Fprintf(&b, " by %s", r.Actor)
	}
	if r.Message != "" {
		fmt.Fprintf(&b, ": %s", r.Message)
	}
	stage := r.Kind
	switch r.Kind {
	case audit.KindReceived:
		stage = "received"
	case audit.KindMatched, audit.KindMatchError, audit.KindUnmatched:
		stage = "matched"
	case audit.KindStale:
		stage = "decision"
	case audit.KindStepRefused:
		stage = "guard"
	case audit.KindApproval:
		stage = "approval"
	case audit.KindStepSkipped, audit.KindStepStarted, audit.KindStepSucceeded, audit.KindStepFailed, audit.KindStepDryRun, audit.KindInterrupted:
		stage = "step"
	}
	return stage, b.String()
}

func kvs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

func kvsAny(m map[string]any) string {
	s := make(map[string]string, len(m))
	for k, v := range m {
		s[k] = fmt.Sprint(v)
	}
	return kvs(s)
}

// getJSON reads from a running server's API, with $FIREBREAK_API_TOKEN as the
// bearer token when set (the read API needs one once the server has any).
func getJSON(u string, dst any) error {
	c := &http.Client{Timeout: 30 * time.Second}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if tok := os.Getenv("FIREBREAK_API_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("the database is in use and the server did not answer: %w", err)
	}
	defer resp.Body.Close()
	err = decodeAnswer(resp, dst)
	if resp.StatusCode == http.StatusUnauthorized && os.Getenv("FIREBREAK_API_TOKEN") == "" {
		err = fmt.Errorf("%w (set FIREBREAK_API_TOKEN to the operator token or a viewer token)", err)
	}
	return err
}

func decodeAnswer(resp *http.Response, dst any) error {
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusConflict {
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("server answered %s: %s", resp.Status, e.Error)
		}
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
	if cp, err := db.AuditCheckpoint(context.Background()); err == nil && cp != nil {
		fmt.Fprintf(stdout, "retention checkpoint: %d older records compacted away, through #%d (%s)\n", cp.Removed, cp.RemovedThrough, cp.Before.Format(time.RFC3339))
	}
	return 0
}

// cmdReplay re-evaluates stored events against the current or a candidate
// playbook set, read-only, and compares with the decisions then.
func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (its data_dir, playbooks and audit.redaction)")
	dataDir := fs.String("data-dir", "", "data directory (default: the config's, or ./data)")
	addr := fs.String("addr", "", "server address, used when the database is held by a running server (default: the config's listen)")
	since := fs.String("since", "24h", "replay events received at or after this: RFC 3339 or a duration ago")
	until := fs.String("until", "", "replay events received before this: RFC 3339 or a duration ago")
	pbPath := fs.String("playbooks", "", "candidate playbook directory or file (default: the current playbooks)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	all := fs.Bool("all", false, "print every event, not only those whose decision changed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := configOrDefaults(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *addr != "" {
		cfg.Listen = *addr
	}
	now := time.Now()
	opts := replay.Options{ActOnStale: cfg.ActOnStale}
	if opts.Since, err = app.ParseSince(*since, now, 24*time.Hour); err != nil {
		fmt.Fprintln(stderr, "firebreak: --since:", err)
		return 2
	}
	if *until != "" {
		if opts.Until, err = app.ParseSince(*until, now, 0); err != nil {
			fmt.Fprintln(stderr, "firebreak: --until:", err)
			return 2
		}
	}
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	red, err := audit.NewRedactor(audit.RedactConfig{Keys: cfg.Audit.Redaction.Keys, Patterns: cfg.Audit.Redaction.Patterns, NoDefaults: cfg.Audit.Redaction.NoDefaults})
	if err != nil {
		fmt.Fprintln(stderr, "firebreak: audit.redaction:", err)
		return 1
	}
	opts.Catalog, opts.Redact = reg, red.Record
	var candidate *playbooks.Set
	if *pbPath != "" {
		if candidate, err = playbooks.LoadPaths(reg, *pbPath); err != nil {
			fmt.Fprintln(stderr, "firebreak: candidate playbooks:", err)
			return 1
		}
	}

	var rep *replay.Report
	db, err := openAudit(cfg.DataDir)
	switch {
	case err == nil:
		defer db.Close()
		opts.Playbooks = candidate
		if opts.Playbooks == nil {
			if opts.Playbooks, _, err = app.LoadPlaybooks(cfg, reg); err != nil {
				fmt.Fprintln(stderr, "firebreak: current playbooks:", err)
				return 1
			}
		}
		if rep, err = replay.Run(context.Background(), db, opts); err != nil {
			fmt.Fprintln(stderr, "firebreak:", err)
			return 1
		}
	case errors.Is(err, store.ErrLocked):
		if rep, err = replayRemote(cfg.Listen, opts, *pbPath); err != nil {
			fmt.Fprintln(stderr, "firebreak:", err)
			return 1
		}
	default:
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printReplay(stdout, rep, *all)
	}
	return 0
}

// replayRemote asks the running server (POST /api/v1/replay), sending the
// candidate playbook files when there are any.
func replayRemote(addr string, opts replay.Options, pbPath string) (*replay.Report, error) {
	req := app.ReplayRequest{Since: opts.Since.Format(time.RFC3339Nano)}
	if !opts.Until.IsZero() {
		req.Until = opts.Until.Format(time.RFC3339Nano)
	}
	if pbPath != "" {
		files, err := readPlaybookFiles(pbPath)
		if err != nil {
			return nil, err
		}
		req.Playbooks = files
	}
	body, _ := json.Marshal(req)
	c := &http.Client{Timeout: 5 * time.Minute}
	hr, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/replay", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	// The replay endpoint is an operator endpoint: send the guards API
	// token when the environment has it.
	if tok := os.Getenv("FIREBREAK_API_TOKEN"); tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("the database is in use and the server did not answer: %w", err)
	}
	defer resp.Body.Close()
	var rep replay.Report
	if err := decodeAnswer(resp, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

func printReplay(w io.Writer, rep *replay.Report, all bool) {
	for _, e := range rep.Events {
		if !all && len(e.Differences) == 0 {
			continue
		}
		fmt.Fprintf(w, "#%d %s %s %s (%s, received %s)\n", e.Seq, e.EventID, e.Name, e.Status, e.Source, e.ReceivedAt.Format(time.RFC3339))
		if !e.Recorded {
			fmt.Fprintln(w, "  then: (no decision in the audit trail)")
		} else {
			fmt.Fprintf(w, "  then: %s\n", formatDecision(e.Then))
		}
		fmt.Fprintf(w, "  now:  %s\n", formatDecision(e.Now))
		for _, d := range e.Differences {
			fmt.Fprintf(w, "  ≠ %s\n", d)
		}
	}
	s := rep.Summary
	fmt.Fprintf(w, "\n%d event(s) replayed, %d decision(s) differ", s.Events, s.Changed)
	if s.Unrecorded > 0 {
		fmt.Fprintf(w, ", %d without a recorded decision", s.Unrecorded)
	}
	fmt.Fprintln(w)
	for _, pb := range sortedKeys(s.NewlyMatched) {
		fmt.Fprintf(w, "  + %s would now match %d more event(s)\n", pb, s.NewlyMatched[pb])
	}
	for _, pb := range sortedKeys(s.NoLongerMatched) {
		fmt.Fprintf(w, "  - %s would no longer match %d event(s)\n", pb, s.NoLongerMatched[pb])
	}
	if s.StepChanges > 0 {
		fmt.Fprintf(w, "  ~ %d step(s) would run where they did not, or the reverse\n", s.StepChanges)
	}
	if s.ParamChanges > 0 {
		fmt.Fprintf(w, "  ~ %d step(s) would run with different parameters\n", s.ParamChanges)
	}
}

func formatDecision(d replay.Decision) string {
	if len(d.Matched) == 0 {
		return "no playbook matched"
	}
	parts := []string{"matched " + strings.Join(d.Matched, ", ")}
	for _, s := range d.Steps {
		step := s.Playbook + "#" + strconv.Itoa(s.Index)
		if s.Phase == replay.PhaseOnResolved {
			step = s.Playbook + " on_resolved#" + strconv.Itoa(s.Index)
		}
		parts = append(parts, fmt.Sprintf("[%s %s: %s]", step, s.Action, s.Decision))
	}
	return strings.Join(parts, " ")
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
