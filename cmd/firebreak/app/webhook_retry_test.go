package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

const retryPlaybook = `
name: notify-with-retries
match: event.source == "alertmanager" && event.status == "firing"
steps:
  - action: webhook.notify
    timeout: 2s
    retries: 2
    with:
      url: "%s/hook"
      body: { alert: "{{ event.name }}" }
`

// TestWebhookRetriesThenSucceedsOrGivesUp: 503s are retried with backoff
// (honouring Retry-After) until the step succeeds; a target that keeps
// failing is given up after the configured attempts and the error audited.
func TestWebhookRetriesThenSucceedsOrGivesUp(t *testing.T) {
	cases := []struct {
		name      string
		failures  int32
		wantKind  audit.Kind
		wantCalls int32
	}{
		{"two 503s then 200", 2, audit.KindStepSucceeded, 3},
		{"always 503", 1000, audit.KindStepFailed, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= tc.failures {
					w.Header().Set("Retry-After", "1")
					http.Error(w, "try later", http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			cfg := apptest.Config(t, fmt.Sprintf(retryPlaybook, srv.URL))
			a := apptest.Start(t, cfg, app.Options{})
			body := apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": "Flaky"}, StartsAt: time.Now(), Fingerprint: "f1"})
			if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", body); code != http.StatusAccepted {
				t.Fatalf("POST = %d %s", code, b)
			}
			apptest.WaitFor(t, 20*time.Second, "the step's outcome", func() bool {
				return len(auditRecords(t, a, audit.Query{Kind: tc.wantKind})) == 1
			})
			if n := calls.Load(); n != tc.wantCalls {
				t.Fatalf("calls = %d, want %d", n, tc.wantCalls)
			}
			rec := auditRecords(t, a, audit.Query{Kind: tc.wantKind})[0]
			if got := rec.Data["attempts"]; got != float64(3) {
				t.Fatalf("attempts recorded = %v, want 3", got)
			}
			if tc.wantKind == audit.KindStepFailed && !strings.Contains(rec.Message, "503 Service Unavailable") {
				t.Fatalf("failure message = %q, want the 503 named", rec.Message)
			}
		})
	}
}
