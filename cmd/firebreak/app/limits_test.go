package app_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/web/auth"
)

// TestRateLimitAnswers429WithRetryAfter: a source over its configured rate
// is refused with 429 and a Retry-After the sender can honour, and what was
// accepted before is kept.
func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, "http://127.0.0.1:1"))
	sc := app.SourceConfig{Auth: &auth.Config{Type: auth.TypeBearer, Token: "a-long-enough-token"}}
	sc.RateLimit = &app.RateLimit{PerSecond: 0.2, Burst: 2}
	cfg.Sources = map[string]app.SourceConfig{"alertmanager": sc}
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	post := func(i int) *http.Response {
		body := apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": "R"}, StartsAt: time.Now(), Fingerprint: fmt.Sprint("r", i)})
		req, _ := http.NewRequest(http.MethodPost, a.URL()+"/hooks/alertmanager", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer a-long-enough-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 2; i++ {
		if r := post(i); r.StatusCode != http.StatusAccepted {
			t.Fatalf("request %d within the burst = %d", i, r.StatusCode)
		}
	}
	r := post(3)
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("request over the rate = %d, want 429", r.StatusCode)
	}
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 5 {
		t.Fatalf("Retry-After = %q, want 1..5 seconds at 0.2/s", r.Header.Get("Retry-After"))
	}
	if n := a.DB.PendingCount(); n != 2 {
		t.Fatalf("pending = %d, want the 2 accepted events", n)
	}
}

// TestStaleEventsAreAuditedNotActedOn: an event that started longer ago
// than max_event_age (downtime, a replayed backlog) is accepted and audited
// as stale, and no step runs for it.
func TestStaleEventsAreAuditedNotActedOn(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(notifyPlaybook, sink.URL))
	a := apptest.Start(t, cfg, app.Options{})
	old := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels:   map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "old"},
		StartsAt: time.Now().Add(-3 * time.Hour), Fingerprint: "old1"})
	if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", old); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, b)
	}
	apptest.WaitFor(t, 10*time.Second, "the stale record", func() bool {
		return len(auditRecords(t, a, audit.Query{Kind: audit.KindStale})) == 1
	})
	apptest.WaitFor(t, 5*time.Second, "inbox drained", func() bool { return a.DB.PendingCount() == 0 })
	if n := len(sink.Requests()); n != 0 {
		t.Fatalf("webhook calls for a stale event = %d, want 0", n)
	}
	if n := len(auditRecords(t, a, audit.Query{Kind: audit.KindStepStarted})); n != 0 {
		t.Fatalf("steps started = %d, want 0", n)
	}
}
