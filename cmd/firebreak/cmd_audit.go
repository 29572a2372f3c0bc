package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/firebreak/firebreak/store/anchor"
)

// cmdAudit dispatches the audit subcommands.
func cmdAudit(args []string, stdout, stderr io.Writer) int {
	return subcommand("audit", usage, map[string]command{
		"list":   cmdAuditList,
		"show":   cmdAuditShow,
		"export": cmdAuditExport,
		"verify": cmdAuditVerify,
		"keygen": cmdAuditKeygen,
	}, args, stdout, stderr)
}

// Where the audit commands look by default.
const (
	defaultDataDir = "data"
	defaultAddr    = "127.0.0.1:9095"
)

// queryFlags are the audit filters list and export share.
type queryFlags struct {
	loc                                           *location
	since, until                                  *string
	eventID, playbook, action, kind, outcome, rsn *string
}

func addQueryFlags(fs *flag.FlagSet) *queryFlags {
	return &queryFlags{
		loc:      addLocation(fs, defaultDataDir, defaultAddr),
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
	q := audit.Query{EventID: *f.eventID, Playbook: *f.playbook, Action: *f.action, Kind: audit.Kind(*f.kind), Outcome: *f.outcome}
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

func cmdAuditList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	qf := addQueryFlags(fs)
	limit := fs.Int("limit", 100, "records per page (1-1000)")
	cursor := fs.Uint64("cursor", 0, "continue after this record sequence (printed at the end of a page)")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
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
	src, err := qf.loc.open()
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	defer src.Close()
	recs, next, err := src.ListAudit(context.Background(), q)
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
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
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
	src, err := qf.loc.open()
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	defer src.Close()
	w := bufio.NewWriter(stdout)
	q.Limit = 1000
	n := 0
	for {
		recs, next, err := src.ListAudit(context.Background(), q)
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
	loc := addLocation(fs, defaultDataDir, defaultAddr)
	asJSON := fs.Bool("json", false, "print the timeline as JSON")
	// Accept the event id before or after the flags.
	id, code, ok := parseWithArg(fs, args)
	if !ok {
		return code
	}
	if id == "" {
		fmt.Fprintln(stderr, "usage: firebreak audit show EVENT_ID [--data-dir DIR] [--addr ADDR] [--json]")
		return 2
	}
	src, err := loc.open()
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	defer src.Close()
	tl, err := src.Timeline(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(stderr, "firebreak: no event %q in the inbox or the audit trail\n", id)
		return 1
	}
	if err != nil {
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
	stage := string(r.Kind)
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

func cmdAuditVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loc := addLocation(fs, defaultDataDir, defaultAddr)
	pubPath := fs.String("public-key", "", "ed25519 public key (PEM or raw 32 bytes): check the signed checkpoints and that the trail is anchored")
	witnessPath := fs.String("witness", "", "witness file (audit.witness.file): the trail must hold its checkpoints (needs --public-key)")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	var opts audit.VerifyOptions
	if *pubPath != "" {
		pub, err := anchor.LoadPublicKey(*pubPath)
		if err != nil {
			fmt.Fprintln(stderr, "firebreak: --public-key:", err)
			return 2
		}
		opts.PublicKey = pub
	}
	if *witnessPath != "" {
		if opts.PublicKey == nil {
			fmt.Fprintln(stderr, "firebreak: --witness needs --public-key: a witness checkpoint is only as good as its signature")
			return 2
		}
		w, err := anchor.ReadFile(*witnessPath)
		if err != nil {
			fmt.Fprintln(stderr, "firebreak: --witness:", err)
			return 1
		}
		opts.Witness = w
	}
	src, err := loc.open()
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	defer src.Close()
	rep, err := src.VerifyAuditWith(context.Background(), opts)
	if errors.Is(err, audit.ErrChainBroken) {
		fmt.Fprintln(stderr, "audit trail NOT intact:", err)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	fmt.Fprintf(stdout, "audit trail intact: %d records\n", rep.Records)
	if rep.InboxChecked > 0 {
		fmt.Fprintf(stdout, "every processed inbox event has its records (%d checked)\n", rep.InboxChecked)
	}
	if opts.PublicKey != nil && rep.NewestSigned != nil {
		fmt.Fprintf(stdout, "anchored: %d checkpoint(s) signed by key %s, the newest of record %d (%s); %d record(s) after it\n",
			rep.Signed, rep.NewestSigned.KeyID, rep.NewestSigned.Seq, rep.NewestSigned.Time.Format(time.RFC3339), rep.Unsigned)
	}
	if rep.OtherKeys > 0 {
		fmt.Fprintf(stdout, "%d checkpoint(s) signed by other keys were not checked\n", rep.OtherKeys)
	}
	if len(opts.Witness) > 0 {
		fmt.Fprintf(stdout, "witness: %d of %d checkpoint(s) found in the trail, none contradicted\n", rep.Witnessed, len(opts.Witness))
	}
	if opts.PublicKey == nil {
		fmt.Fprintln(stdout, "not checked without --public-key: a chain recomputed after an edit, and a trail rolled back whole")
	}
	if fsrc, ok := src.(fileSource); ok {
		if cp, err := fsrc.AuditCheckpoint(context.Background()); err == nil && cp != nil {
			fmt.Fprintf(stdout, "retention checkpoint: %d older records compacted away, through #%d (%s)\n", cp.Removed, cp.RemovedThrough, cp.Before.Format(time.RFC3339))
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	return 0
}

// cmdAuditKeygen writes a new checkpoint signing key pair.
func cmdAuditKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "audit-signing.pem", "private key file to create (PEM PKCS#8, mode 0600; never overwritten)")
	pubOut := fs.String("public-out", "", "public key file (default: --out with .pub)")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	if *pubOut == "" {
		*pubOut = strings.TrimSuffix(*out, ".pem") + ".pub"
	}
	pub, err := anchor.GenerateKey(*out, *pubOut)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	fmt.Fprintf(stdout, "signing key %s (set audit.signing_key_file), public key %s (for audit verify --public-key), key id %s\n", *out, *pubOut, audit.KeyID(pub))
	return 0
}

// cmdReplay re-evaluates stored events against the current or a candidate
// playbook set, read-only, and compares with the decisions then.
func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (its data_dir, playbooks and audit.redaction)")
	loc := addLocation(fs, "", "") // defaults: the config's data_dir and listen
	since := fs.String("since", "24h", "replay events received at or after this: RFC 3339 or a duration ago")
	until := fs.String("until", "", "replay events received before this: RFC 3339 or a duration ago")
	pbPath := fs.String("playbooks", "", "candidate playbook directory or file (default: the current playbooks)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	all := fs.Bool("all", false, "print every event, not only those whose decision changed")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	cfg, err := configOrDefaults(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	if loc.given("data-dir") {
		cfg.DataDir = *loc.dataDir
	}
	if loc.given("addr") {
		cfg.Listen = *loc.addr
	}
	*loc.dataDir, *loc.addr = cfg.DataDir, cfg.Listen
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

	src, err := loc.open()
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	defer src.Close()
	opts.Playbooks = candidate
	rep, err := src.Replay(context.Background(), replayInput{opts: opts, pbPath: *pbPath, current: func() (*playbooks.Set, error) {
		set, _, err := app.LoadPlaybooks(cfg, reg)
		return set, err
	}})
	if err != nil {
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
