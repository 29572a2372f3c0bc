package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/approval"
)

const approvalPlaybook = `
name: notify-with-approval
description: a step that waits for a human
match: event.status == "firing" && event.name == "DiskFull"
steps:
  - action: webhook.notify
    timeout: 5s
    approval: required
    with:
      url: "%s/approved"
      body: { host: "{{ event.labels.instance }}" }
`

func bearerDo(t *testing.T, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestTimelineOfARealApproval runs an incident through the approval gate
// (decided through the approvals API) and reads its timeline with audit
// show while the server holds the database.
func TestTimelineOfARealApproval(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(approvalPlaybook, sink.URL))
	cfg.API.Tokens = []app.APIToken{{Name: "oncall", Token: "approver-token-1234567890", Role: "approver"}}
	a := apptest.Start(t, cfg, app.Options{})
	// The CLI reads through the server, whose read API now wants a token.
	t.Setenv("FIREBREAK_API_TOKEN", "approver-token-1234567890")
	payload := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels:   map[string]string{"alertname": "DiskFull", "instance": "db-1", "severity": "critical"},
		StartsAt: time.Now().Add(-time.Minute), Fingerprint: "fp-disk"})
	if code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", payload); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, body)
	}
	var pending []approval.Approval
	apptest.WaitFor(t, 10*time.Second, "a pending approval", func() bool {
		code, body := bearerDo(t, http.MethodGet, a.URL()+"/api/v1/approvals?status=pending", "approver-token-1234567890", nil)
		var out struct {
			Approvals []approval.Approval `json:"approvals"`
		}
		_ = json.Unmarshal(body, &out)
		pending = out.Approvals
		return code == http.StatusOK && len(pending) == 1
	})
	ap := pending[0]
	body, _ := json.Marshal(map[string]string{"plan_hash": ap.PlanHash})
	if code, out := bearerDo(t, http.MethodPost, a.URL()+"/api/v1/approvals/"+ap.ID+"/approve", "approver-token-1234567890", body); code != http.StatusOK {
		t.Fatalf("approve = %d %s", code, out)
	}
	apptest.WaitFor(t, 10*time.Second, "the approved step to run", func() bool { return len(sink.Requests()) == 1 })
	apptest.WaitFor(t, 10*time.Second, "the step outcome to be audited", func() bool {
		code, out, _ := auditCLI(t, "audit", "list", "--data-dir", cfg.DataDir, "--addr", a.Addr(), "--kind", "step.succeeded")
		return code == 0 && strings.Contains(out, "step.succeeded")
	})

	code, out, errOut := auditCLI(t, "audit", "show", ap.EventID, "--data-dir", cfg.DataDir, "--addr", a.Addr())
	if code != 0 {
		t.Fatalf("audit show: exit %d: %s", code, errOut)
	}
	t.Logf("audit show %s:\n%s", ap.EventID, out)
	want := []string{
		"received  accepted: DiskFull firing (critical)",
		"matched   notify-with-approval → matched",
		`saw:  event.status="firing" event.name="DiskFull"`,
		"approval  notify-with-approval step 0 webhook.notify on webhook/127.0.0.1",
		"→ requested: waiting for approval " + ap.ID,
		`request: {"body":{"host":"db-1"},"url":"` + sink.URL + `/approved"}`,
		"guard verdict at request: guards pass",
		"needs 1 approver(s), expires ",
		"approval  notify-with-approval step 0 webhook.notify",
		"→ approved by api:oncall",
		"approved by oncall (api:oncall) via api at ",
		"after the request",
		"step      notify-with-approval step 0 webhook.notify",
		"→ started",
		"step      notify-with-approval step 0 webhook.notify",
		"→ ok",
	}
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("timeline lacks (or misorders) %q\n--- output:\n%s", w, out)
		}
		rest = rest[i+len(w):]
	}

	apptest.WaitFor(t, 5*time.Second, "the decision time metric", func() bool {
		resp, err := http.Get(a.URL() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `firebreak_approval_decision_seconds_count{decision="approved"} 1`) &&
			strings.Contains(string(b), `firebreak_approval_decisions_total{decision="approved"} 1`) &&
			strings.Contains(string(b), "firebreak_approvals_pending 0")
	})
}

// TestAuditCLIThroughAServerWithAToken: once the server has a token, the
// CLI reading through it needs $FIREBREAK_API_TOKEN and says so.
func TestAuditCLIThroughAServerWithAToken(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(approvalPlaybook, "http://127.0.0.1:1"))
	cfg.API.Tokens = []app.APIToken{{Name: "ops", Role: "operator", Token: "operator-token-0123456789"}}
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	t.Setenv("FIREBREAK_API_TOKEN", "")
	code, _, errOut := auditCLI(t, "audit", "verify", "--data-dir", cfg.DataDir, "--addr", a.Addr())
	if code == 0 || !strings.Contains(errOut, "401") || !strings.Contains(errOut, "FIREBREAK_API_TOKEN") {
		t.Fatalf("audit verify without a token: exit %d, %q; want a refusal naming FIREBREAK_API_TOKEN", code, errOut)
	}
	t.Setenv("FIREBREAK_API_TOKEN", "operator-token-0123456789")
	if code, out, errOut := auditCLI(t, "audit", "verify", "--data-dir", cfg.DataDir, "--addr", a.Addr()); code != 0 {
		t.Fatalf("audit verify with the token: exit %d, %s %s", code, out, errOut)
	}
}
