package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/internal/fakeclock"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
)

const flakyPlaybook = `
name: notify-flaky
match: event.source == "alertmanager" && event.status == "firing"
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%s/hook"
      body:
        alert: "{{ event.name }}"
`

// The dead-letter API's tokens: the CLI sends $FIREBREAK_API_TOKEN, which
// dlqServer sets to the operator's.
const (
	dlqOperatorToken = "dlq-operator-token-0123"
	dlqViewerToken   = "dlq-viewer-token-0123456"
)

// dlqServer starts a server whose only playbook notifies a receiver that
// fails until ok is set; the CLI calls it with the operator token.
func dlqServer(t *testing.T, clk *fakeclock.Clock) (*app.App, *atomic.Bool, *atomic.Int64) {
	t.Helper()
	var ok atomic.Bool
	var calls atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !ok.Load() {
			http.Error(w, "receiver down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rcv.Close)
	cfg := apptest.Config(t, fmt.Sprintf(flakyPlaybook, rcv.URL))
	maxAge := app.Duration(10 * time.Minute)
	cfg.MaxEventAge = &maxAge
	cfg.API.Tokens = []app.APIToken{
		{Name: "ops", Role: "operator", Token: dlqOperatorToken},
		{Name: "dashboard", Role: "viewer", Token: dlqViewerToken},
	}
	t.Setenv("FIREBREAK_API_TOKEN", dlqOperatorToken)
	a := apptest.Start(t, cfg, app.Options{Now: clk.Now})
	return a, &ok, &calls
}

func postAlert(t *testing.T, a *app.App, name, fp string, startsAt time.Time) {
	t.Helper()
	payload := apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": name, "severity": "warning"}, StartsAt: startsAt, Fingerprint: fp})
	if code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", payload); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, body)
	}
}

func dlqEntries(t *testing.T, addr string) []web.DeadLetter {
	t.Helper()
	code, out, errOut := auditCLI(t, "dlq", "list", "--addr", addr, "--json")
	if code != 0 {
		t.Fatalf("dlq list: exit %d: %s", code, errOut)
	}
	var list []web.DeadLetter
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e web.DeadLetter
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("dlq list line %q: %v", line, err)
		}
		list = append(list, e)
	}
	return list
}

func recordsOf(t *testing.T, db store.Backend, kind audit.Kind) []audit.Record {
	t.Helper()
	recs, _, err := db.ListAudit(context.Background(), audit.Query{Kind: kind, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// A step that failed for good lands in the dead-letter queue (and the
// gauge); a retry runs it again through the guards with a fresh claim,
// audited as a retry of the failure; a discard needs a reason and is
// audited with it.
func TestDeadLetterQueueRetryAndDiscard(t *testing.T) {
	clk := fakeclock.New(time.Now().UTC())
	a, ok, calls := dlqServer(t, clk)
	addr := a.Addr()

	postAlert(t, a, "DiskFull", "00000000000000d1", clk.Now().Add(-time.Minute))
	apptest.WaitFor(t, 10*time.Second, "the step failed into the queue", func() bool {
		n, _ := a.DB.DLQCount(context.Background())
		return n == 1
	})
	list := dlqEntries(t, addr)
	if len(list) != 1 || list[0].Playbook != "notify-flaky" || list[0].Action != "webhook.notify" || list[0].Failures != 1 || list[0].Stale ||
		!strings.Contains(list[0].Error, "503") {
		t.Fatalf("dlq = %+v", list)
	}
	resp, err := http.Get(a.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "firebreak_dlq_entries 1") {
		t.Fatal("/metrics lacks firebreak_dlq_entries 1")
	}
	failed := recordsOf(t, a.DB, audit.KindStepFailed)
	if len(failed) != 1 {
		t.Fatalf("step.failed records = %d", len(failed))
	}
	// One API authentication: a viewer lists, only an operator retries or
	// discards, no token is refused.
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{http.MethodGet, "/api/v1/dlq", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/dlq", dlqViewerToken, http.StatusOK},
		{http.MethodPost, "/api/v1/dlq/" + list[0].ID + "/retry", dlqViewerToken, http.StatusForbidden},
		{http.MethodPost, "/api/v1/dlq/" + list[0].ID + "/discard", dlqViewerToken, http.StatusForbidden},
		{http.MethodPost, "/api/v1/dlq/" + list[0].ID + "/retry", "", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(tc.method, a.URL()+tc.path, strings.NewReader(`{"reason":"r"}`))
		req.Header.Set("Content-Type", "application/json")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !json.Valid(b) {
			t.Errorf("%s %s with %q = %d %s, want %d with a JSON body", tc.method, tc.path, tc.token, resp.StatusCode, b, tc.want)
		}
	}
	if n, _ := a.DB.DLQCount(context.Background()); n != 1 {
		t.Fatal("a refused call changed the queue")
	}

	ok.Store(true)
	before := calls.Load()
	if code, out, errOut := auditCLI(t, "dlq", "retry", list[0].ID, "--addr", addr); code != 0 || !strings.Contains(out, "retrying "+list[0].ID) {
		t.Fatalf("dlq retry: exit %d %s %s", code, out, errOut)
	}
	apptest.WaitFor(t, 10*time.Second, "the retried step succeeded", func() bool { return len(recordsOf(t, a.DB, audit.KindStepSucceeded)) == 1 })
	if calls.Load() != before+1 {
		t.Errorf("receiver calls during the retry = %d, want 1", calls.Load()-before)
	}
	retries := recordsOf(t, a.DB, store.KindDLQRetry)
	if len(retries) != 1 || retries[0].Outcome != store.OutcomeRetry || retries[0].Data["retry_of"] != float64(failed[0].Seq) || retries[0].Actor != "api:ops" {
		t.Fatalf("dlq.retry record = %+v", retries)
	}
	if list := dlqEntries(t, addr); len(list) != 0 {
		t.Fatalf("queue after the retry = %+v", list)
	}
	// The same id again: gone.
	if code, _, errOut := auditCLI(t, "dlq", "retry", list[0].ID, "--addr", addr); code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("second retry: exit %d %q; want a 404", code, errOut)
	}

	ok.Store(false)
	postAlert(t, a, "DiskFull2", "00000000000000d2", clk.Now().Add(-time.Minute))
	apptest.WaitFor(t, 10*time.Second, "the second step failed into the queue", func() bool {
		n, _ := a.DB.DLQCount(context.Background())
		return n == 1
	})
	id := dlqEntries(t, addr)[0].ID
	if code, _, errOut := auditCLI(t, "dlq", "discard", id, "--addr", addr); code != 2 || !strings.Contains(errOut, "--reason") {
		t.Fatalf("discard without a reason: exit %d %q", code, errOut)
	}
	if code, out, errOut := auditCLI(t, "dlq", "discard", id, "--reason", "receiver retired", "--addr", addr); code != 0 || !strings.Contains(out, "discarded "+id) {
		t.Fatalf("dlq discard: exit %d %s %s", code, out, errOut)
	}
	discards := recordsOf(t, a.DB, store.KindDLQDiscard)
	if len(discards) != 1 || discards[0].Message != "receiver retired" || discards[0].Outcome != store.OutcomeDiscarded {
		t.Fatalf("dlq.discard record = %+v", discards)
	}
	if n, _ := a.DB.DLQCount(context.Background()); n != 0 {
		t.Fatalf("%d entries after the discard", n)
	}
	if _, err := a.DB.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A retry of a step whose event went stale (older than max_event_age)
// needs --force, and the forced retry is audited as such.
func TestDeadLetterRetryOfAStaleEventNeedsForce(t *testing.T) {
	clk := fakeclock.New(time.Now().UTC())
	a, ok, _ := dlqServer(t, clk)
	addr := a.Addr()
	postAlert(t, a, "Stale", "00000000000000e1", clk.Now().Add(-time.Minute))
	apptest.WaitFor(t, 10*time.Second, "the step failed into the queue", func() bool {
		n, _ := a.DB.DLQCount(context.Background())
		return n == 1
	})
	clk.Advance(time.Hour)
	list := dlqEntries(t, addr)
	if len(list) != 1 || !list[0].Stale {
		t.Fatalf("dlq after an hour = %+v; want the entry marked stale", list)
	}
	ok.Store(true)
	code, _, errOut := auditCLI(t, "dlq", "retry", list[0].ID, "--addr", addr)
	if code != 1 || !strings.Contains(errOut, "max_event_age") || !strings.Contains(errOut, "--force") {
		t.Fatalf("retry of a stale event's step: exit %d %q; want a refusal naming --force", code, errOut)
	}
	if n, _ := a.DB.DLQCount(context.Background()); n != 1 {
		t.Fatal("a refused retry removed the entry")
	}
	if code, out, errOut := auditCLI(t, "dlq", "retry", list[0].ID, "--force", "--addr", addr); code != 0 {
		t.Fatalf("forced retry: exit %d %s %s", code, out, errOut)
	}
	retries := recordsOf(t, a.DB, store.KindDLQRetry)
	if len(retries) != 1 || retries[0].Outcome != store.OutcomeRetryStale || retries[0].Data["forced"] != true {
		t.Fatalf("dlq.retry record = %+v", retries)
	}
	apptest.WaitFor(t, 10*time.Second, "the forced retry ran the step", func() bool { return len(recordsOf(t, a.DB, audit.KindStepSucceeded)) == 1 })
}
