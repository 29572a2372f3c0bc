package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

const ssrfPlaybook = `
name: callback
match: event.source == "alertmanager" && event.status == "firing"
steps:
  - action: webhook.notify
    continue_on_error: true
    with:
      url: "{{ event.annotations.callback }}"
      body: { alert: "{{ event.name }}" }
  - action: webhook.notify
    with:
      url: "%s/relay"
      body: { alert: "{{ event.name }}" }
`

// TestEventDataCannotPauseFirebreak replays the attack of issue 14: an
// alert whose annotation points webhook.notify at Firebreak's own
// /api/v1/pause. The templated URL is refused at dial time, audited as
// destination_refused and counted under that label; the kill switch stays
// off; the author's literal loopback relay is still called.
func TestEventDataCannotPauseFirebreak(t *testing.T) {
	relay := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(ssrfPlaybook, relay.URL))
	a := apptest.Start(t, cfg, app.Options{})
	body := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels:      map[string]string{"alertname": "Evil"},
		Annotations: map[string]string{"callback": a.URL() + "/api/v1/pause"},
		StartsAt:    time.Now(), Fingerprint: "ssrf1",
	})
	if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", body); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, b)
	}
	apptest.WaitFor(t, 20*time.Second, "both steps' outcomes", func() bool {
		return len(auditRecords(t, a, audit.Query{Kind: audit.KindStepFailed}))+len(auditRecords(t, a, audit.Query{Kind: audit.KindStepSucceeded})) >= 2
	})
	failed := auditRecords(t, a, audit.Query{Kind: audit.KindStepFailed})
	if len(failed) != 1 {
		t.Fatalf("%d failed steps, want 1", len(failed))
	}
	if failed[0].Outcome != "destination_refused" {
		t.Fatalf("outcome %q (%s), want destination_refused", failed[0].Outcome, failed[0].Message)
	}
	if n := failed[0].Data["attempts"]; n != float64(1) {
		t.Fatalf("a refusal was attempted %v times, want 1 (not retried)", n)
	}
	if len(auditRecords(t, a, audit.Query{Outcome: "destination_refused"})) != 1 {
		t.Fatal("the refusal cannot be found by its reason")
	}
	if len(relay.Requests()) != 1 {
		t.Fatalf("the literal loopback relay got %d requests, want 1", len(relay.Requests()))
	}
	resp, err := http.Get(a.URL() + "/api/v1/pause")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("GET /api/v1/pause: %s", b)
	}
	if st["paused"] == true {
		t.Fatalf("event data paused Firebreak: %s", b)
	}
	fams := scrape(t, a.URL())
	if v, ok := sample(fams, "firebreak_step_runs_total", map[string]string{"action": "webhook.notify", "outcome": "destination_refused"}); !ok || v != 1 {
		t.Fatalf("firebreak_step_runs_total{outcome=destination_refused} = %v (present %v), want 1", v, ok)
	}
}

// TestHTTPAllowCIDRsConfig: actions.http.allow_cidrs lets a templated
// host reach an allow-listed range, and a bad entry stops the start with
// the key named.
func TestHTTPAllowCIDRsConfig(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(ssrfPlaybook, sink.URL))
	cfg.Actions.HTTP.AllowCIDRs = []string{"127.0.0.0/8"}
	a := apptest.Start(t, cfg, app.Options{})
	body := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels:      map[string]string{"alertname": "Allowed"},
		Annotations: map[string]string{"callback": sink.URL + "/callback"},
		StartsAt:    time.Now(), Fingerprint: "ssrf2",
	})
	if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", body); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, b)
	}
	apptest.WaitFor(t, 20*time.Second, "both steps to succeed", func() bool {
		return len(auditRecords(t, a, audit.Query{Kind: audit.KindStepSucceeded})) == 2
	})
	if n := len(sink.Requests()); n != 2 {
		t.Fatalf("sink got %d requests, want 2", n)
	}

	bad := apptest.Config(t, fmt.Sprintf(ssrfPlaybook, sink.URL))
	bad.Actions.HTTP.DenyCIDRs = []string{"10.0.0.0/8", "not-a-cidr"}
	_, err := app.Start(context.Background(), bad, slog.New(slog.DiscardHandler), app.Options{})
	if err == nil || !strings.Contains(err.Error(), `actions.http.deny_cidrs[1]: "not-a-cidr"`) {
		t.Fatalf("start with a bad deny_cidrs: %v", err)
	}
}
