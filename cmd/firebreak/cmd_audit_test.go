package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/store"
)

// auditCLI runs the firebreak CLI and returns its exit code and output.
func auditCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// auditEnv is where the CLI finds the records: a closed database file, or
// a running server holding it (the CLI then uses the HTTP API).
type auditEnv struct {
	name string
	// start prepares the records with write and returns the CLI's
	// location flags.
	start func(t *testing.T, write func(db *store.DB)) []string
}

var auditEnvs = []auditEnv{
	{"database file", func(t *testing.T, write func(db *store.DB)) []string {
		dir := t.TempDir()
		db, err := store.Open(filepath.Join(dir, "firebreak.db"), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		write(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return []string{"--data-dir", dir}
	}},
	{"server holds the file", func(t *testing.T, write func(db *store.DB)) []string {
		cfg := apptest.Config(t, "")
		a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
		write(a.DB.(*store.DB))
		return []string{"--data-dir", cfg.DataDir, "--addr", a.Addr()}
	}},
}

var timelineT0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// writeApprovalIncident stores an event and the records of its whole
// history: received, matched, approval requested, approved by a human,
// step started and succeeded.
func writeApprovalIncident(t *testing.T, db *store.DB) string {
	t.Helper()
	ctx := context.Background()
	ev := event.Event{ID: "am:fp-42:firing", Source: "alertmanager", Status: "firing", Name: "KubePodCrashLooping", Severity: "critical",
		Labels:   map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "cart-api"},
		StartsAt: timelineT0.Add(-time.Minute), ReceivedAt: timelineT0}
	if _, err := db.AppendEvents(ctx, []event.Event{ev}); err != nil {
		t.Fatal(err)
	}
	step := audit.StepIndex(0)
	params := map[string]any{"kind": "Deployment", "namespace": "shop", "name": "cart-api"}
	rule := `event.source == "alertmanager" && event.name == "KubePodCrashLooping" && event.labels.namespace not in ["kube-system"]`
	recs := []audit.Record{
		{Time: timelineT0, Kind: audit.KindReceived, EventID: ev.ID, Source: "alertmanager", Outcome: "accepted", Message: "KubePodCrashLooping firing (critical)"},
		{Time: timelineT0, Kind: audit.KindMatched, EventID: ev.ID, Playbook: "restart-crashloop", Outcome: "matched", Data: map[string]any{"rule": rule, "mode": "approve",
			"saw": map[string]any{"event.source": "alertmanager", "event.name": "KubePodCrashLooping", "event.labels.namespace": "shop"}}},
		{Time: timelineT0.Add(time.Second), Kind: audit.KindReceived, EventID: "other", Outcome: "accepted"},
		{Time: timelineT0.Add(time.Second), Kind: audit.KindApproval, EventID: ev.ID, Playbook: "restart-crashloop", Step: step, Action: "kubernetes.restart", Target: "Deployment/shop/cart-api",
			Outcome: "requested", Message: "waiting for approval ap-7", Data: map[string]any{"params": params}},
		{Time: timelineT0.Add(3 * time.Minute), Kind: audit.KindApproval, EventID: ev.ID, Playbook: "restart-crashloop", Step: step, Action: "kubernetes.restart", Target: "Deployment/shop/cart-api",
			Outcome: "approved", Actor: "U024BE7LH (alice)", Message: "approved in Slack", Data: map[string]any{"approval_id": "ap-7", "approvals": []string{"U024BE7LH"}}},
		{Time: timelineT0.Add(3*time.Minute + time.Second), Kind: audit.KindStepStarted, EventID: ev.ID, Playbook: "restart-crashloop", Step: step, Action: "kubernetes.restart", Target: "Deployment/shop/cart-api",
			Outcome: "started", Data: map[string]any{"params": params}},
		{Time: timelineT0.Add(3*time.Minute + 3*time.Second), Kind: audit.KindStepSucceeded, EventID: ev.ID, Playbook: "restart-crashloop", Step: step, Action: "kubernetes.restart", Target: "Deployment/shop/cart-api",
			Outcome: "ok", Message: "restarted Deployment shop/cart-api", Data: map[string]any{"params": params, "attempts": 1, "duration_ms": 1900}},
	}
	if err := db.Audit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	return ev.ID
}

func TestAuditShowPrintsTheIncidentTimeline(t *testing.T) {
	for _, env := range auditEnvs {
		t.Run(env.name, func(t *testing.T) {
			var id string
			loc := env.start(t, func(db *store.DB) { id = writeApprovalIncident(t, db) })
			code, out, errOut := auditCLI(t, append([]string{"audit", "show", id}, loc...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			// The stages, in this order, each with its details.
			want := []string{
				`Event am:fp-42:firing (inbox #1)`,
				`KubePodCrashLooping firing, severity critical, from alertmanager`,
				`labels: alertname=KubePodCrashLooping deployment=cart-api namespace=shop`,
				`2026-11-29 09:00:00.000  received  accepted: KubePodCrashLooping firing (critical)`,
				`2026-11-29 09:00:00.000  matched   restart-crashloop → matched`,
				`rule: event.source == "alertmanager" && event.name == "KubePodCrashLooping" && event.labels.namespace not in ["kube-system"]`,
				`saw:  event.source="alertmanager" event.name="KubePodCrashLooping" event.labels.namespace="shop"`,
				`2026-11-29 09:00:01.000  approval  restart-crashloop step 0 kubernetes.restart on Deployment/shop/cart-api → requested: waiting for approval ap-7`,
				`request: {"kind":"Deployment","name":"cart-api","namespace":"shop"}`,
				`2026-11-29 09:03:00.000  approval  restart-crashloop step 0 kubernetes.restart on Deployment/shop/cart-api → approved by U024BE7LH (alice): approved in Slack`,
				`approved by: [U024BE7LH]`,
				`2026-11-29 09:03:01.000  step      restart-crashloop step 0 kubernetes.restart on Deployment/shop/cart-api → started`,
				`request: {"kind":"Deployment","name":"cart-api","namespace":"shop"}`,
				`2026-11-29 09:03:03.000  step      restart-crashloop step 0 kubernetes.restart on Deployment/shop/cart-api → ok: restarted Deployment shop/cart-api`,
				`1 attempt(s), 1900 ms`,
			}
			rest := out
			for _, w := range want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("timeline lacks (or misorders) %q\n--- output:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(out, "other") {
				t.Errorf("the timeline shows another event's record:\n%s", out)
			}
			// --json carries the same records.
			code, out, errOut = auditCLI(t, append([]string{"audit", "show", id, "--json"}, loc...)...)
			if code != 0 {
				t.Fatalf("--json exit %d: %s", code, errOut)
			}
			var tl app.Timeline
			if err := json.Unmarshal([]byte(out), &tl); err != nil {
				t.Fatal(err)
			}
			if len(tl.Records) != 6 || tl.Event == nil || tl.Event.Event.Labels["deployment"] != "cart-api" {
				t.Errorf("json timeline: %d records, event %+v", len(tl.Records), tl.Event)
			}
			if code, _, errOut := auditCLI(t, append([]string{"audit", "show", "nope"}, loc...)...); code != 1 || !strings.Contains(errOut, "no event") {
				t.Errorf("unknown event: exit %d, %q", code, errOut)
			}
		})
	}
}

// writeMany writes n records spread over n seconds from timelineT0.
func writeMany(t *testing.T, db *store.DB, n int) {
	t.Helper()
	var recs []audit.Record
	for i := range n {
		recs = append(recs, audit.Record{
			Time: timelineT0.Add(time.Duration(i) * time.Second), Kind: []audit.Kind{audit.KindReceived, audit.KindStepRefused}[i%2],
			EventID: fmt.Sprintf("ev-%d", i/2), Playbook: []string{"pb-a", "pb-b"}[i%2], Action: []string{"webhook.notify", "slack.notify", "kubernetes.scale"}[i%3],
			Outcome: []string{"accepted", "deduped", "accepted", "budget_exhausted"}[i%4], Data: map[string]any{"n": i, "nested": map[string]any{"s": "x"}},
		})
		if len(recs) == 500 {
			if err := db.Audit(context.Background(), recs...); err != nil {
				t.Fatal(err)
			}
			recs = nil
		}
	}
	if err := db.Audit(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

var seqLine = regexp.MustCompile(`(?m)^\s*(\d+) `)

func TestAuditListFiltersAndPages(t *testing.T) {
	for _, env := range auditEnvs {
		t.Run(env.name, func(t *testing.T) {
			loc := env.start(t, func(db *store.DB) { writeMany(t, db, 2400) })
			since := timelineT0.Add(1000 * time.Second).Format(time.RFC3339)
			until := timelineT0.Add(1100 * time.Second).Format(time.RFC3339)
			tests := []struct {
				name string
				args []string
				want int
			}{
				{"playbook", []string{"--playbook", "pb-b", "--limit", "1000"}, 1000},
				{"reason", []string{"--reason", "budget_exhausted", "--limit", "1000"}, 600},
				{"outcome + action", []string{"--outcome", "deduped", "--action", "kubernetes.scale", "--limit", "1000"}, 200},
				{"kind", []string{"--kind", string(audit.KindStepRefused), "--since", since, "--until", until}, 50},
				{"event id", []string{"--event-id", "ev-7"}, 2},
				{"time range + playbook", []string{"--since", since, "--until", until, "--playbook", "pb-a"}, 50},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					code, out, errOut := auditCLI(t, append(append([]string{"audit", "list"}, loc...), tc.args...)...)
					if code != 0 {
						t.Fatalf("exit %d: %s", code, errOut)
					}
					if got := len(seqLine.FindAllString(out, -1)); got != tc.want {
						t.Errorf("%d records, want %d", got, tc.want)
					}
				})
			}
			// Paging: 2400 records in pages of 1000, following the cursor.
			var seen []string
			args := append([]string{"audit", "list", "--limit", "1000"}, loc...)
			for pages := 1; ; pages++ {
				code, out, errOut := auditCLI(t, args...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				for _, m := range seqLine.FindAllStringSubmatch(out, -1) {
					seen = append(seen, m[1])
				}
				m := regexp.MustCompile(`--cursor (\d+)`).FindStringSubmatch(errOut)
				if m == nil {
					if pages != 3 {
						t.Errorf("%d pages, want 3", pages)
					}
					break
				}
				args = append([]string{"audit", "list", "--limit", "1000", "--cursor", m[1]}, loc...)
			}
			if len(seen) != 2400 || seen[0] != "1" || seen[2399] != "2400" {
				t.Errorf("paged through %d records (%v … %v), want 1 … 2400", len(seen), seen[:1], seen[len(seen)-1:])
			}
		})
	}
}

func TestAuditExportRoundTrips(t *testing.T) {
	for _, env := range auditEnvs {
		t.Run(env.name, func(t *testing.T) {
			var want []audit.Record
			loc := env.start(t, func(db *store.DB) {
				writeMany(t, db, 2400)
				recs, _, err := db.ListAudit(context.Background(), audit.Query{Since: timelineT0.Add(100 * time.Second), Limit: 5000})
				if err != nil {
					t.Fatal(err)
				}
				want = recs
			})
			code, out, errOut := auditCLI(t, append([]string{"audit", "export", "--format", "jsonl", "--since", timelineT0.Add(100 * time.Second).Format(time.RFC3339)}, loc...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(errOut, "exported 2300 records") {
				t.Errorf("stderr = %q", errOut)
			}
			var got []audit.Record
			var lines [][]byte
			sc := bufio.NewScanner(strings.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var r audit.Record
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("line %d: %v", len(got)+1, err)
				}
				got = append(got, r)
				lines = append(lines, append([]byte(nil), sc.Bytes()...))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("exported %d records, differing from the %d stored", len(got), len(want))
			}
			// Each line is the stored body: its hash is the next record's prev,
			// so an export can be verified on its own.
			for i := 1; i < len(lines); i++ {
				sum := sha256.Sum256(lines[i-1])
				if got[i].Prev != hex.EncodeToString(sum[:]) {
					t.Fatalf("record %d: prev %s is not the hash of exported record %d", got[i].Seq, got[i].Prev, got[i-1].Seq)
				}
			}
			if code, _, errOut := auditCLI(t, append([]string{"audit", "export", "--format", "csv"}, loc...)...); code != 2 || !strings.Contains(errOut, "only jsonl") {
				t.Errorf("--format csv: exit %d, %q", code, errOut)
			}
		})
	}
}

func TestRuleValuesForTheTimeline(t *testing.T) {
	rule := `event.name == "X" && event.labels["app.kubernetes.io/name"] == "cart" && event.user == "root" && event.name != ""`
	ev := map[string]any{"name": "X", "labels": map[string]any{"app.kubernetes.io/name": "cart"}}
	want := []string{`event.name="X"`, `event.labels.app.kubernetes.io/name="cart"`, `event.user=(absent)`}
	if got := ruleValues(rule, ev); !reflect.DeepEqual(got, want) {
		t.Errorf("from the event: %q, want %q", got, want)
	}
	saw := map[string]any{"event.name": "X", "event.labels.app.kubernetes.io/name": "cart", "event.user": nil}
	if got := sawValues(rule, saw); !reflect.DeepEqual(got, want) {
		t.Errorf("from the record: %q, want %q", got, want)
	}
}
