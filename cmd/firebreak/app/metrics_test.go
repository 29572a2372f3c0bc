package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

const metricsPlaybooks = `
name: notify-crash
description: tell the sink about crash loops, once per namespace per window
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubePodCrashLooping"
dedupe: { key: 'event.labels.namespace', window: 15m }
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%[1]s/ok"
      headers: { Authorization: "Bearer sup3r-s3cret-t0ken-value" }
      body: { pod: "{{ event.labels.pod }}" }
  - action: webhook.notify
    when: 'event.labels.namespace == "never"'
    with: { url: "%[1]s/never" }
---
name: notify-failing
description: a hook that is down; one failure opens the breaker
match: event.source == "alertmanager" && event.status == "firing" && event.name == "HookDown"
breaker: { failures: 1, window: 30m, cooldown: 1h }
steps:
  - action: webhook.notify
    timeout: 5s
    with: { url: "%[2]s/fail" }
`

func alert(name, ns, pod, fp string, startsAt time.Time) apptest.Alert {
	return apptest.Alert{Labels: map[string]string{"alertname": name, "namespace": ns, "pod": pod, "severity": "critical"}, StartsAt: startsAt, Fingerprint: fp}
}

// scrape fetches and parses /metrics.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample returns the value of the series name{labels}: a counter's or
// gauge's value, or a histogram's sample count. ok is false when absent.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, lp := range m.Label {
			got[lp.GetName()] = lp.GetValue()
		}
		if len(got) != len(labels) {
			continue
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsAfterScriptedScenario(t *testing.T) {
	okSink := apptest.NewSink(t)
	downSink := apptest.NewSink(t)
	downSink.Status = http.StatusInternalServerError
	cfg := apptest.Config(t, fmt.Sprintf(metricsPlaybooks, okSink.URL, downSink.URL))
	a := apptest.Start(t, cfg, app.Options{})
	now := time.Now()
	hooks := a.URL() + "/hooks/alertmanager"

	// Two crash loops in one namespace: the first notifies (its second
	// step is skipped by when), the second is deduped.
	crash := apptest.AlertmanagerPayload("firing",
		alert("KubePodCrashLooping", "shop", "cart-1", "fp-cart-1", now.Add(-time.Minute)),
		alert("KubePodCrashLooping", "shop", "cart-2", "fp-cart-2", now.Add(-time.Minute)))
	if code, body := apptest.Post(t, hooks, crash); code != http.StatusAccepted {
		t.Fatalf("POST crash = %d %s", code, body)
	}
	// The same notification again: two duplicates.
	if code, body := apptest.Post(t, hooks, crash); code != http.StatusAccepted || !strings.Contains(string(body), `"duplicates":2`) {
		t.Fatalf("POST crash again = %d %s", code, body)
	}
	// A stale alert: matched and audited, never acted on.
	stale := apptest.AlertmanagerPayload("firing", alert("KubePodCrashLooping", "batch", "old-1", "fp-old-1", now.Add(-3*time.Hour)))
	if code, body := apptest.Post(t, hooks, stale); code != http.StatusAccepted {
		t.Fatalf("POST stale = %d %s", code, body)
	}
	apptest.WaitFor(t, 10*time.Second, "3 events processed", func() bool { return a.Engine.Processed() == 3 })
	// A failing hook opens the breaker; the next alert on it is refused.
	if code, body := apptest.Post(t, hooks, apptest.AlertmanagerPayload("firing", alert("HookDown", "ops", "hook-1", "fp-hook-1", now.Add(-time.Minute)))); code != http.StatusAccepted {
		t.Fatalf("POST hook down = %d %s", code, body)
	}
	apptest.WaitFor(t, 10*time.Second, "4 events processed", func() bool { return a.Engine.Processed() == 4 })
	if code, body := apptest.Post(t, hooks, apptest.AlertmanagerPayload("firing", alert("HookDown", "ops", "hook-2", "fp-hook-2", now.Add(-time.Minute)))); code != http.StatusAccepted {
		t.Fatalf("POST hook down again = %d %s", code, body)
	}
	apptest.WaitFor(t, 10*time.Second, "5 events processed", func() bool { return a.Engine.Processed() == 5 })
	// Three rejected requests.
	req, _ := http.NewRequest(http.MethodPost, hooks, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain POST = %v, %v", resp, err)
	}
	if code, _ := apptest.Post(t, hooks, []byte(`{"alerts": [`)); code != http.StatusBadRequest {
		t.Fatalf("broken JSON = %d", code)
	}
	if code, _ := apptest.Post(t, a.URL()+"/hooks/nope", []byte(`{}`)); code != http.StatusNotFound {
		t.Fatalf("unknown source = %d", code)
	}

	fams := scrape(t, a.URL())
	type series struct {
		name   string
		labels map[string]string
		want   float64
	}
	l := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, s := range []series{
		{"firebreak_events_received_total", l("source", "alertmanager", "result", "accepted"), 4},
		{"firebreak_events_received_total", l("source", "alertmanager", "result", "stale"), 1},
		{"firebreak_events_received_total", l("source", "alertmanager", "result", "duplicate"), 2},
		{"firebreak_webhook_requests_rejected_total", l("source", "alertmanager", "reason", "content_type"), 1},
		{"firebreak_webhook_requests_rejected_total", l("source", "alertmanager", "reason", "decode_error"), 1},
		{"firebreak_webhook_requests_rejected_total", l("source", "unknown", "reason", "unknown_source"), 1},
		{"firebreak_ingest_duration_seconds", l("source", "alertmanager"), 5},
		{"firebreak_inbox_pending_events", l(), 0},
		{"firebreak_events_processed_total", l("source", "alertmanager"), 5},
		{"firebreak_event_processing_duration_seconds", l(), 5},
		{"firebreak_playbook_matches_total", l("playbook", "notify-crash"), 3},
		{"firebreak_playbook_matches_total", l("playbook", "notify-failing"), 2},
		{"firebreak_step_runs_total", l("action", "webhook.notify", "outcome", "ok"), 1},
		{"firebreak_step_runs_total", l("action", "webhook.notify", "outcome", "when_false"), 1},
		{"firebreak_step_runs_total", l("action", "webhook.notify", "outcome", "failed"), 1},
		{"firebreak_step_duration_seconds", l("action", "webhook.notify"), 2},
		{"firebreak_guard_refusals_total", l("reason", "deduped", "playbook", "notify-crash"), 1},
		{"firebreak_guard_refusals_total", l("reason", "breaker_open", "playbook", "notify-failing"), 1},
		{"firebreak_breakers", l("playbook", "notify-failing", "state", "open"), 1},
		{"firebreak_breakers", l("playbook", "notify-failing", "state", "closed"), 0},
		{"firebreak_approvals_pending", l(), 0},
		{"firebreak_audit_records_total", l("kind", string(audit.KindReceived)), 5},
		{"firebreak_audit_records_total", l("kind", string(audit.KindStale)), 1},
		{"firebreak_audit_records_total", l("kind", string(audit.KindMatched)), 5},
		{"firebreak_audit_records_total", l("kind", string(audit.KindStepSucceeded)), 1},
		{"firebreak_audit_records_total", l("kind", string(audit.KindStepFailed)), 1},
		{"firebreak_audit_records_total", l("kind", string(audit.KindStepSkipped)), 1},
		{"firebreak_audit_records_total", l("kind", string(audit.KindStepRefused)), 2},
		{"firebreak_playbook_reloads_total", l("result", "failed"), 0},
	} {
		got, ok := sample(fams, s.name, s.labels)
		if !ok {
			t.Errorf("%s%v: absent", s.name, s.labels)
			continue
		}
		if got != s.want {
			t.Errorf("%s%v = %v, want %v", s.name, s.labels, got, s.want)
		}
	}
	// No label carries an event id, a target or an address.
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if strings.Contains(lp.GetValue(), "fp-") || strings.Contains(lp.GetValue(), "127.0.0.1") || strings.Contains(lp.GetValue(), "cart-") {
					t.Errorf("%s has an unbounded label %s=%q", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	if t.Failed() {
		var names []string
		for n := range fams {
			if strings.HasPrefix(n, "firebreak_") {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		t.Logf("firebreak metrics: %v", names)
	}

	// The audit record of the notify step holds no token; the sink got it.
	recs, _, err := a.DB.ListAudit(context.Background(), audit.Query{Playbook: "notify-crash", Kind: audit.KindStepSucceeded})
	if err != nil || len(recs) != 1 {
		t.Fatalf("step.succeeded records: %v, %v", recs, err)
	}
	params := recs[0].Data["params"].(map[string]any)
	if h := params["headers"].(map[string]any); h["Authorization"] != audit.Redacted {
		t.Errorf("audited headers = %v, want the token redacted", h)
	}
	if got := okSink.Requests()[0].Header.Get("Authorization"); got != "Bearer sup3r-s3cret-t0ken-value" {
		t.Errorf("the action was sent Authorization %q: redaction must only affect the record", got)
	}
	raw, err := os.ReadFile(cfg.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("sup3r-s3cret-t0ken-value")) && !inboxHolds(t, a, "sup3r-s3cret-t0ken-value") {
		t.Error("the token is in the database file")
	}
}

// inboxHolds reports whether a stored event's raw payload holds s (the
// token is in the playbook, never in an event, so it must not).
func inboxHolds(t *testing.T, a *app.App, s string) bool {
	t.Helper()
	found := false
	_ = a.DB.EventsSince(context.Background(), 0, func(_ uint64, ev event.Event) error {
		if bytes.Contains(ev.Raw, []byte(s)) {
			found = true
		}
		return nil
	})
	return found
}

// TestApprovalMetricsFromTheGateState checks the approval seam: pending
// approvals are counted from the gate's pending index, and a decision the
// gate commits (here through POST /api/v1/approvals/{id}/approve) makes
// the time from request to decision observed, reported by the gate itself
// (approval.Observer), not read back from the audit trail.
func TestApprovalMetricsFromTheGateState(t *testing.T) {
	cfg := apptest.Config(t, "")
	apptest.WithOperator(&cfg)
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	ctx := context.Background()
	// Real times: the gate's sweeper runs and must find nothing due.
	requested := time.Now().UTC().Add(-90 * time.Second).Truncate(time.Second)
	expires := requested.Add(time.Hour).Format(time.RFC3339)
	err := a.DB.Update(ctx, func(tx state.Tx) error {
		for _, id := range []string{"ap-1", "ap-2", "ap-3"} {
			v := fmt.Sprintf(`{"id":%q,"status":"pending","plan_hash":"h-%s","event_id":"e1","playbook":"restart","phase":"steps","action":"webhook.notify","required":1,"requested_at":%q,"expires_at":%q}`,
				id, id, requested.Format(time.RFC3339), expires)
			if err := tx.Put("approvals", id, []byte(v)); err != nil {
				return err
			}
			if err := tx.Put("approvals_pending", id, []byte(expires)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := apiPost(t, a.URL()+"/api/v1/approvals/ap-1/approve", apptest.OperatorToken, `{"plan_hash": "h-ap-1"}`); code != http.StatusOK {
		t.Fatalf("approve = %d %s", code, body)
	}
	var fams map[string]*dto.MetricFamily
	apptest.WaitFor(t, 5*time.Second, "the decision time to be observed", func() bool {
		fams = scrape(t, a.URL())
		n, _ := sample(fams, "firebreak_approval_decision_seconds", map[string]string{"decision": "approved"})
		return n == 1
	})
	if h := fams["firebreak_approval_decision_seconds"].Metric[0].Histogram; h.GetSampleSum() < 90 || h.GetSampleSum() >= 120 {
		t.Errorf("decision time sum = %v s, want about 90 (requested 90 s before the decision)", h.GetSampleSum())
	}
	for _, s := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"firebreak_approvals_pending", nil, 2},
		{"firebreak_approval_decisions_total", map[string]string{"decision": "approved"}, 1},
		{"firebreak_audit_records_total", map[string]string{"kind": string(audit.KindApproval)}, 1},
	} {
		if got, ok := sample(fams, s.name, s.labels); !ok || got != s.want {
			t.Errorf("%s%v = %v (present %v), want %v", s.name, s.labels, got, ok, s.want)
		}
	}
}
