package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/slack/slackfake"
	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
)

// labelSecretsPlaybooks take a step's target and a parameter from alert
// labels: a team label shaped like a Slack token becomes a slack.notify
// channel (its target), a runbook label shaped like a GitHub token a
// webhook body value. Both steps wait for approval, so the API and the
// pages show them before anything runs.
const labelSecretsPlaybooks = `
name: label-target
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
budget: ["3/1h"]
breaker: { failures: 1, window: 30m, cooldown: 1h }
steps:
  - action: slack.notify
    approval: required
    with: { channel: "#{{ event.labels.team }}", text: "cart is degraded" }
---
name: label-param
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
steps:
  - action: webhook.notify
    approval: required
    timeout: 2s
    with:
      url: "%s/notify"
      body: { runbook: "{{ event.labels.runbook }}" }
`

// TestAPIAndPagesRedactLabelSecrets: secret-shaped label values that
// become a target and a parameter are redacted in every JSON answer of
// the API that carries them (approvals, one approval, the timeline,
// breakers, budgets) and on every page, as the audit trail redacts them.
func TestAPIAndPagesRedactLabelSecrets(t *testing.T) {
	const (
		targetSecret = "xoxb-1234567890-abcdefghij"
		paramSecret  = "ghp_abcdefghijklmnopqrstuvwxyz0123"
	)
	sink := apptest.NewSink(t)
	fake := slackfake.New(t)
	fake.Fail("#"+targetSecret, "channel_not_found")
	cfg := apptest.Config(t, fmt.Sprintf(labelSecretsPlaybooks, sink.URL))
	cfg.API.Tokens = apiTokens()
	cfg.Actions.Slack.Token = slackfake.Token
	cfg.Actions.Slack.APIURL = fake.APIURL()
	a := apptest.Start(t, cfg, app.Options{})
	body := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels: map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop",
			"team": targetSecret, "runbook": paramSecret},
		StartsAt: time.Now().Add(-time.Minute).UTC(), Fingerprint: "1abe15ec",
	})
	if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", body); code != 202 {
		t.Fatalf("POST alert: %d %s", code, b)
	}
	var list []approval.Approval
	apptest.WaitFor(t, 10*time.Second, "two pending approvals", func() bool {
		var err error
		list, err = approval.List(context.Background(), a.DB, approval.Filter{PendingOnly: true})
		return err == nil && len(list) == 2
	})
	// The stored approvals hold the values: otherwise the test proves nothing.
	var target approval.Approval
	for _, ap := range list {
		if ap.Action == "slack.notify" {
			target = ap
			if !strings.Contains(ap.Target, targetSecret) {
				t.Fatalf("the notification's target %q does not hold the label's value", ap.Target)
			}
		} else if !strings.Contains(fmt.Sprint(ap.Params), paramSecret) {
			t.Fatalf("the webhook's params %v do not hold the label's value", ap.Params)
		}
	}

	api := func(method, path string) string {
		t.Helper()
		req, _ := http.NewRequest(method, a.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+operatorToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		for _, s := range []string{targetSecret, paramSecret} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s %s answers the secret %q", method, path, s)
			}
		}
		return string(b)
	}
	c := newClient(t, a.URL())
	c.signIn(operatorToken)
	page := func(path string) string {
		t.Helper()
		resp, p := c.do("GET", path, nil, "text/html")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		for _, s := range []string{targetSecret, paramSecret} {
			if strings.Contains(p, s) {
				t.Errorf("page %s renders the secret %q", path, s)
			}
		}
		return p
	}
	if got := api("GET", "/api/v1/approvals?status=pending"); strings.Count(got, audit.Redacted) < 2 {
		t.Errorf("GET /api/v1/approvals shows no redaction: %s", got)
	}
	api("GET", "/api/v1/approvals/"+target.ID)
	api("GET", "/api/v1/audit/timeline/"+target.EventID)
	page("/")
	page("/approvals")
	page("/events/" + target.EventID)
	page("/audit")

	// Approve the notification: Slack refuses the channel, so it fails,
	// the breaker of its target opens and the budget counts a run on it.
	resp, p := c.do("GET", "/approvals", nil, "text/html")
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.StatusCode)
	}
	form := map[string][]string{"csrf": {csrfOf(t, p)}, "plan_hash": {target.PlanHash}}
	if resp, _ := c.do("POST", "/approvals/"+target.ID+"/approve", form, "text/html"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", resp.StatusCode)
	}
	apptest.WaitFor(t, 15*time.Second, "the breaker to open", func() bool {
		bs, _ := a.Guard().Breakers(context.Background())
		return len(bs) == 1 && bs[0].State == guard.StateOpen && strings.Contains(bs[0].Target, targetSecret)
	})
	if got := api("GET", "/api/v1/breakers"); !strings.Contains(got, audit.Redacted) {
		t.Errorf("GET /api/v1/breakers shows no redacted target: %s", got)
	}
	if got := api("GET", "/api/v1/budgets"); !strings.Contains(got, audit.Redacted) {
		t.Errorf("GET /api/v1/budgets shows no redacted target: %s", got)
	}
	api("GET", "/api/v1/approvals")
	api("GET", "/api/v1/audit/timeline/"+target.EventID)
	page("/breakers")
	page("/")
	page("/events/" + target.EventID)
}

// TestAPIAuditRedactsAsPages: GET /api/v1/audit passes records through the
// server's redactor as the /audit page and its JSONL export do, so a
// record written before a redaction pattern was configured shows the same
// (redacted) in all three.
func TestAPIAuditRedactsAsPages(t *testing.T) {
	const secret = "C-4711-customer-secret"
	cfg := apptest.Config(t, "")
	first := apptest.Start(t, cfg, app.Options{})
	if err := first.DB.Audit(context.Background(), audit.Record{Kind: audit.KindReceived, Source: "test", EventID: "test:1",
		Message: "customer " + secret, Data: map[string]any{"customer_ref": secret}}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Audit.Redaction.Patterns = []string{`C-4711-[a-z-]+`}
	a := apptest.Start(t, cfg, app.Options{})
	for _, path := range []string{"/api/v1/audit?event_id=test:1", "/audit?event_id=test:1", "/audit/export?event_id=test:1"} {
		resp, err := http.Get(a.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if !strings.Contains(string(body), "test:1") {
			t.Fatalf("GET %s does not show the record:\n%s", path, body)
		}
		if strings.Contains(string(body), secret) {
			t.Errorf("GET %s shows what the redactor removes:\n%s", path, body)
		}
	}
}
