package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
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
	case "verify":
		return cmdAuditVerify(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "firebreak: unknown audit command %q\n\n%s", args[0], usage)
	return 2
}

// cmdReplay re-evaluates stored events against a playbook set (issue 7).
func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "firebreak: replay is not implemented yet")
	return 1
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
