package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

const notifyPlaybook = `
name: notify-replicas
description: tell the sink
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%s/hook"
      body:
        deployment: "{{ event.labels.deployment }}"
        namespace: "{{ event.labels.namespace }}"
        replicas: "{{ len(event.labels) }}"
        summary: "{{ event.name }} on {{ event.labels.namespace }}/{{ event.labels.deployment }}"
`

func firingGroup(now time.Time) []byte {
	return apptest.AlertmanagerPayload("firing",
		apptest.Alert{Labels: map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "cart-api", "severity": "critical"},
			StartsAt: now.Add(-2 * time.Minute), Fingerprint: "5f0c9e1d2a7b3c48"},
		apptest.Alert{Labels: map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "pricing-worker", "severity": "critical"},
			StartsAt: now.Add(-1 * time.Minute), Fingerprint: "a91b07e4c3d25f60"},
	)
}

func auditRecords(t *testing.T, a *app.App, q audit.Query) []audit.Record {
	t.Helper()
	q.Limit = 10000
	recs, _, err := a.DB.ListAudit(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestEndToEndAlertmanagerToWebhook(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, sink.URL))
	a := apptest.Start(t, cfg, app.Options{})
	payload := firingGroup(time.Now())

	code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", payload)
	if code != http.StatusAccepted || !strings.Contains(string(body), `"accepted":2`) {
		t.Fatalf("POST = %d %s, want 202 with 2 accepted", code, body)
	}
	apptest.WaitFor(t, 10*time.Second, "two webhook calls", func() bool { return len(sink.Requests()) == 2 })

	got := map[string]map[string]any{}
	for _, r := range sink.Requests() {
		got[r.Body["deployment"].(string)] = r.Body
	}
	for _, dep := range []string{"cart-api", "pricing-worker"} {
		b, ok := got[dep]
		if !ok {
			t.Fatalf("no webhook call for %s; got %v", dep, got)
		}
		if b["namespace"] != "shop" || b["summary"] != "KubeDeploymentReplicasMismatch on shop/"+dep {
			t.Errorf("rendered body for %s = %v", dep, b)
		}
		// A whole-template value keeps the expression's type.
		if n, ok := b["replicas"].(float64); !ok || n != 4 {
			t.Errorf("replicas = %#v, want the number 4", b["replicas"])
		}
	}
	apptest.WaitFor(t, 5*time.Second, "events finished", func() bool { return a.DB.PendingCount() == 0 })
	succeeded := auditRecords(t, a, audit.Query{Kind: audit.KindStepSucceeded})
	if len(succeeded) != 2 {
		t.Fatalf("step.succeeded records = %d, want 2", len(succeeded))
	}
	for _, k := range []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepStarted} {
		if n := len(auditRecords(t, a, audit.Query{Kind: k})); n != 2 {
			t.Errorf("%s records = %d, want 2", k, n)
		}
	}

	// Alertmanager re-sends the whole group every group_interval: the
	// events are acknowledged as duplicates and nothing runs again.
	code, body = apptest.Post(t, a.URL()+"/hooks/alertmanager", payload)
	if code != http.StatusAccepted || !strings.Contains(string(body), `"duplicates":2`) {
		t.Fatalf("re-send = %d %s, want 202 with 2 duplicates", code, body)
	}
	time.Sleep(300 * time.Millisecond) // give a wrongly re-processed event the chance to act
	if n := len(sink.Requests()); n != 2 {
		t.Fatalf("webhook calls after re-send = %d, want still 2", n)
	}
	n, err := a.DB.VerifyAudit(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	before := auditRecords(t, a, audit.Query{})

	// Restart on the same data directory: the trail is intact and nothing
	// is processed again.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := apptest.Start(t, cfg, app.Options{})
	n2, err := b.DB.VerifyAudit(context.Background())
	if err != nil || n2 != n {
		t.Fatalf("after restart verify = %d, %v; want %d records intact", n2, err, n)
	}
	after := auditRecords(t, b, audit.Query{})
	if len(after) != len(before) || after[len(after)-1].Seq != before[len(before)-1].Seq {
		t.Fatalf("audit changed across restart: %d → %d records", len(before), len(after))
	}
	code, _ = apptest.Post(t, b.URL()+"/hooks/alertmanager", payload)
	if code != http.StatusAccepted {
		t.Fatalf("re-send after restart = %d", code)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(sink.Requests()); n != 2 {
		t.Fatalf("webhook calls after restart re-send = %d, want still 2", n)
	}
	var page struct {
		Records    []audit.Record `json:"records"`
		NextCursor string         `json:"next_cursor"`
	}
	resp, err := http.Get(b.URL() + "/api/v1/audit?limit=3")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 3 || page.NextCursor != "3" {
		t.Fatalf("audit API page = %d records, cursor %q; want 3 and \"3\"", len(page.Records), page.NextCursor)
	}
}

func TestBadInputs(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, "http://127.0.0.1:1"))
	cfg.MaxBodyBytes = 4096
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	url := a.URL() + "/hooks/alertmanager"
	big := `{"alerts":[` + strings.Repeat(`{"status":"firing","labels":{"a":"b"}},`, 200) + `{}]}`
	cases := []struct {
		name, ctype, body string
		code              int
		errPart           string
	}{
		{"malformed JSON", "application/json", `{"alerts": [`, 400, "malformed JSON"},
		{"wrong status", "application/json", `{"alerts":[{"status":"burning"}]}`, 400, "alerts[0].status"},
		{"missing alerts", "application/json", `{"version":"4"}`, 400, "alerts"},
		{"too large", "application/json", big, 413, "exceeds the limit of 4096 bytes"},
		{"wrong content type", "text/plain", `{}`, 415, "content type must be application/json"},
		{"unknown source", "application/json", `{}`, 404, "unknown source"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := url
			if tc.name == "unknown source" {
				u = a.URL() + "/hooks/nagios"
			}
			resp, err := http.Post(u, tc.ctype, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tc.code || !strings.Contains(out["error"], tc.errPart) {
				t.Fatalf("got %d %v, want %d mentioning %q", resp.StatusCode, out, tc.code, tc.errPart)
			}
		})
	}
	// A good request after the bad ones is accepted, and the bad ones left
	// nothing in the inbox.
	code, _ := apptest.Post(t, url, firingGroup(time.Now()))
	if code != http.StatusAccepted || a.DB.PendingCount() != 2 {
		t.Fatalf("good request = %d, pending %d; want 202 and 2", code, a.DB.PendingCount())
	}
}

// TestCrashBeforeDispatch acknowledges events while the dispatcher is not
// running, stops, restarts with the dispatcher, and checks that every
// acknowledged event is processed exactly once.
func TestCrashBeforeDispatch(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, sink.URL))
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	const groups = 20
	now := time.Now()
	for i := 0; i < groups; i++ {
		p := apptest.AlertmanagerPayload("firing", apptest.Alert{
			Labels:   map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": fmt.Sprintf("svc-%02d", i)},
			StartsAt: now, Fingerprint: fmt.Sprintf("fp%02d", i)})
		if code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", p); code != http.StatusAccepted {
			t.Fatalf("POST %d = %d %s", i, code, body)
		}
	}
	if a.DB.PendingCount() != groups {
		t.Fatalf("pending = %d, want %d", a.DB.PendingCount(), groups)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.Requests()); n != 0 {
		t.Fatalf("webhook calls before restart = %d, want 0", n)
	}
	b := apptest.Start(t, cfg, app.Options{})
	apptest.WaitFor(t, 15*time.Second, "every acknowledged event processed", func() bool { return b.DB.PendingCount() == 0 })
	if n := len(sink.Requests()); n != groups {
		t.Fatalf("webhook calls = %d, want exactly %d", n, groups)
	}
	seen := map[string]bool{}
	for _, r := range sink.Requests() {
		d := r.Body["deployment"].(string)
		if seen[d] {
			t.Fatalf("%s acted on twice", d)
		}
		seen[d] = true
	}
	// A third start finds nothing left to do.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c := apptest.Start(t, cfg, app.Options{})
	time.Sleep(300 * time.Millisecond)
	if n := len(sink.Requests()); n != groups || c.DB.PendingCount() != 0 {
		t.Fatalf("after third start: calls %d, pending %d", n, c.DB.PendingCount())
	}
	if _, err := c.DB.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
}
