package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/actions/slack/slackfake"
	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/internal/fakeclock"
	"github.com/firebreak/firebreak/web"
)

const (
	apprSecret     = "8f742231b10e8888abcd99yyyzzz85a5"
	apprUser       = "U04ABCD1EFG" // the fixture's user, allow-listed
	apprOtherUser  = "U09NOTLISTED"
	apprGroupUser  = "U07ONCALL"
	apprToken      = "approver-token-0123456789abcdef"
	apprViewToken  = "viewer-token-0123456789abcdef00"
	apprStaleAfter = 6 * time.Minute
)

const apprPlaybook = `
name: restart-cart-with-approval
description: ask a human before telling the deploy bot to restart
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
approval: { %s }
steps:
  - action: webhook.notify
    approval: required
    timeout: 5s
    with:
      url: "%s/restart"
      body:
        deployment: "{{ event.labels.deployment }}"
        namespace: "{{ event.labels.namespace }}"
`

// apprEnv is a running Firebreak with approvals wired to a fake Slack and a
// webhook sink standing in for the thing the approved step calls.
type apprEnv struct {
	t     *testing.T
	clock *fakeclock.Clock
	slack *slackfake.Server
	sink  *apptest.Sink
	cfg   app.Config
	a     *app.App
	// extraLabels are added to the alert fire posts.
	extraLabels map[string]string
}

func newApprEnv(t *testing.T, approvers int) *apprEnv {
	t.Helper()
	return newApprEnvWith(t, fmt.Sprintf("expires: 30m, approvers: %d", approvers), nil)
}

// newApprEnvWith starts the app with the playbook's approval mapping given
// as its flow-style content, and the alert carrying extra labels.
func newApprEnvWith(t *testing.T, approvalKeys string, extraLabels map[string]string) *apprEnv {
	t.Helper()
	e := &apprEnv{t: t, clock: fakeclock.New(time.Now().UTC().Truncate(time.Second)), extraLabels: extraLabels}
	e.slack = slackfake.New(t)
	e.slack.Groups["S0ONCALL"] = []string{apprGroupUser}
	e.sink = apptest.NewSink(t)
	e.cfg = apptest.Config(t, fmt.Sprintf(apprPlaybook, approvalKeys, e.sink.URL))
	e.cfg.Approvals = app.ApprovalsConfig{
		SlackChannel:  "#incident-approvals",
		SigningSecret: apprSecret,
		BotToken:      slackfake.Token,
		SlackAPIURL:   e.slack.APIURL(),
		AllowedUsers:  []string{apprUser},
		AllowedGroups: []string{"S0ONCALL"},
		SweepInterval: app.Duration(20 * time.Millisecond),
	}
	e.cfg.API.Tokens = []app.APIToken{
		{Name: "oncall-bot", Token: apprToken, Role: "approver"},
		{Name: "dashboard", Token: apprViewToken, Role: "viewer"},
	}
	e.start()
	return e
}

func (e *apprEnv) start() {
	e.t.Helper()
	e.a = apptest.Start(e.t, e.cfg, app.Options{Now: e.clock.Now})
}

// fire posts a firing (or resolved) Alertmanager alert for cart-api.
func (e *apprEnv) fire(status string) {
	e.t.Helper()
	labels := map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "cart-api", "severity": "critical"}
	maps.Copy(labels, e.extraLabels)
	body := apptest.AlertmanagerPayload(status, apptest.Alert{
		Labels:      labels,
		Annotations: map[string]string{"summary": "cart-api has 1 of 3 replicas"},
		StartsAt:    e.clock.Now(), Fingerprint: "fp-cart-api",
	})
	if code, b := apptest.Post(e.t, e.a.URL()+"/hooks/alertmanager", body); code != http.StatusAccepted {
		e.t.Fatalf("POST alert = %d %s", code, b)
	}
}

// requested fires the alert and returns the posted approval message.
func (e *apprEnv) requested() slackfake.Call {
	e.t.Helper()
	e.fire("firing")
	msg := e.slack.WaitCalls(e.t, "chat.postMessage", 1, 10*time.Second)[0]
	apptest.WaitFor(e.t, 5*time.Second, "the message's ts stored", func() bool {
		p := e.approvals("pending")
		return len(p) == 1 && p[0].MessageID != ""
	})
	return msg
}

// callback builds Slack's block_actions callback (the shared fixture's
// shape) for a click by user on the button with actionID and value of
// the posted message, form-encoded as Slack sends it.
func (e *apprEnv) callback(msg slackfake.Call, actionID, user string) []byte {
	e.t.Helper()
	raw, err := os.ReadFile("testdata/slack-block-actions.json")
	if err != nil {
		e.t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		e.t.Fatal(err)
	}
	value := msg.ButtonValues()[actionID]
	if value == "" {
		e.t.Fatalf("the message has no %s button: %v", actionID, msg.ButtonValues())
	}
	p["user"].(map[string]any)["id"] = user
	act := p["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["value"], act["block_id"] = actionID, value, slack.ApprovalBlock
	p["container"].(map[string]any)["channel_id"] = "CINCIDENT-APPROVALS"
	b, err := json.Marshal(p)
	if err != nil {
		e.t.Fatal(err)
	}
	return []byte("payload=" + url.QueryEscape(string(b)))
}

// post sends body to /slack/interactions with headers.
func (e *apprEnv) post(body []byte, h http.Header) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.a.URL()+"/slack/interactions", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header = h
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if took := time.Since(start); took > 3*time.Second {
		e.t.Errorf("slack callback answered after %s; slack gives up after 3s", took)
	}
	return resp.StatusCode
}

// click posts a correctly signed callback.
func (e *apprEnv) click(body []byte) {
	e.t.Helper()
	if code := e.post(body, web.SlackSignForTest(apprSecret, e.clock.Now(), body)); code != http.StatusOK {
		e.t.Fatalf("signed callback = %d, want 200", code)
	}
}

func (e *apprEnv) records(q audit.Query) []audit.Record {
	e.t.Helper()
	q.Limit = 1000
	recs, _, err := e.a.DB.ListAudit(context.Background(), q)
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// waitApprovalRecords waits until n approval decisions were audited
// (after the engine's own "requested" record).
func (e *apprEnv) waitApprovalRecords(n int) []audit.Record {
	e.t.Helper()
	var recs []audit.Record
	apptest.WaitFor(e.t, 10*time.Second, fmt.Sprintf("%d approval decisions audited", n), func() bool {
		recs = nil
		for _, r := range e.records(audit.Query{Kind: audit.KindApproval}) {
			if r.Outcome != "requested" {
				recs = append(recs, r)
			}
		}
		return len(recs) >= n
	})
	return recs
}

// lastUpdateWith waits for a chat.update whose text contains every want.
func (e *apprEnv) lastUpdateWith(want ...string) slackfake.Call {
	e.t.Helper()
	var last slackfake.Call
	apptest.WaitFor(e.t, 10*time.Second, "a chat.update showing "+strings.Join(want, ", "), func() bool {
		ups := e.slack.Calls("chat.update")
		if len(ups) == 0 {
			return false
		}
		last = ups[len(ups)-1]
		for _, w := range want {
			if !strings.Contains(last.Text(), w) {
				return false
			}
		}
		return true
	})
	return last
}

func (e *apprEnv) approvals(status string) []approval.Approval {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.a.URL()+"/api/v1/approvals?status="+status, nil)
	req.Header.Set("Authorization", "Bearer "+apprViewToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /api/v1/approvals = %s", resp.Status)
	}
	var out struct {
		Approvals []approval.Approval `json:"approvals"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	return out.Approvals
}

// apiDecide posts an API decision and returns the status code.
func (e *apprEnv) apiDecide(id, decision, token, planHash string) (int, string) {
	e.t.Helper()
	body := ""
	if planHash != "" {
		body = `{"plan_hash":"` + planHash + `"}`
	}
	req, _ := http.NewRequest(http.MethodPost, e.a.URL()+"/api/v1/approvals/"+id+"/"+decision, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The proof: Alertmanager → playbook with an approval step → Slack message
// → signed Approve callback → the step runs → the message shows the outcome.
func TestApprovalEndToEnd(t *testing.T) {
	e := newApprEnv(t, 1)
	msg := e.requested()

	if ch := msg.Form.Get("channel"); ch != "#incident-approvals" {
		t.Errorf("posted to %q", ch)
	}
	text := msg.Text()
	for _, w := range []string{
		"Approval needed: webhook.notify",
		"*KubeDeploymentReplicasMismatch* (critical, firing) from alertmanager",
		"cart-api has 1 of 3 replicas",
		"Playbook `restart-cart-with-approval` wants to run `webhook.notify`",
		`"deployment":"cart-api"`,
		"guards: pass",
		"(denied if undecided)",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("approval message lacks %q:\n%s", w, text)
		}
	}
	if len(e.sink.Requests()) != 0 {
		t.Fatal("the step ran before anyone approved it")
	}
	pending := e.approvals("pending")
	if len(pending) != 1 || pending[0].Playbook != "restart-cart-with-approval" || pending[0].MessageID == "" {
		t.Fatalf("pending approvals = %+v", pending)
	}

	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	apptest.WaitFor(t, 10*time.Second, "the approved webhook call", func() bool { return len(e.sink.Requests()) == 1 })
	if got := e.sink.Requests()[0].Body; got["deployment"] != "cart-api" || got["namespace"] != "shop" {
		t.Errorf("the step sent %v", got)
	}
	up := e.lastUpdateWith("Approved: webhook.notify", "Approved by <@"+apprUser+">", "Outcome:")
	if up.Form.Get("ts") != pending[0].MessageID || up.Form.Get("channel") != pending[0].MessageChannel {
		t.Errorf("updated %s/%s, want the posted message %s/%s", up.Form.Get("channel"), up.Form.Get("ts"), pending[0].MessageChannel, pending[0].MessageID)
	}
	if strings.Contains(up.Text(), "Failed") || len(up.ButtonValues()) != 0 {
		t.Errorf("final message:\n%s\nbuttons %v", up.Text(), up.ButtonValues())
	}

	recs := e.waitApprovalRecords(1)
	r := recs[0]
	if r.Outcome != approval.OutcomeApproved || r.Actor != apprUser || r.Data["via"] != "slack" || r.Playbook != "restart-cart-with-approval" || r.Time.IsZero() {
		t.Errorf("approval audit record = %+v", r)
	}
	if n := len(e.records(audit.Query{Kind: audit.KindStepSucceeded})); n != 1 {
		t.Errorf("step.succeeded records = %d, want 1", n)
	}
	if got := e.approvals("approved"); len(got) != 1 || !got[0].Executed || got[0].Failed {
		t.Errorf("approved approvals = %+v", got)
	}
	if _, err := e.a.DB.VerifyAudit(context.Background()); err != nil {
		t.Errorf("audit chain: %v", err)
	}
}

func TestSlackCallbackAuthentication(t *testing.T) {
	e := newApprEnv(t, 1)
	msg := e.requested()
	body := e.callback(msg, slack.ActionApprove, apprUser)
	now := e.clock.Now()
	tampered := bytes.Replace(body, []byte(apprUser), []byte(apprOtherUser), 1)
	tests := []struct {
		name string
		body []byte
		h    http.Header
	}{
		{"bad signature", body, web.SlackSignForTest("not-the-signing-secret", now, body)},
		{"stale timestamp", body, web.SlackSignForTest(apprSecret, now.Add(-apprStaleAfter), body)},
		{"timestamp from the future", body, web.SlackSignForTest(apprSecret, now.Add(apprStaleAfter), body)},
		{"body changed after signing", tampered, web.SlackSignForTest(apprSecret, now, body)},
		{"no signature", body, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := e.post(tt.body, tt.h); code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", code)
			}
			if n, _ := refusalCount(t, e.a, "slack"); n != i+1 {
				t.Errorf("auth.failed records count %d refusals, want %d", n, i+1)
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // room for a wrongly accepted click to act
	if len(e.sink.Requests()) != 0 {
		t.Fatal("a refused callback ran the step")
	}
	if got := e.approvals("pending"); len(got) != 1 {
		t.Fatalf("pending approvals = %d, want 1", len(got))
	}
	for _, r := range e.records(audit.Query{}) {
		if b, _ := json.Marshal(r); bytes.Contains(b, []byte(apprSecret)) {
			t.Fatalf("the signing secret is in the audit trail: %s", b)
		}
	}
}

func TestSlackApproveReplayed(t *testing.T) {
	e := newApprEnv(t, 1)
	msg := e.requested()
	body := e.callback(msg, slack.ActionApprove, apprUser)
	h := web.SlackSignForTest(apprSecret, e.clock.Now(), body)
	if code := e.post(body, h); code != http.StatusOK {
		t.Fatalf("first click = %d", code)
	}
	apptest.WaitFor(t, 10*time.Second, "the approved webhook call", func() bool { return len(e.sink.Requests()) == 1 })
	e.lastUpdateWith("Outcome:")
	time.Sleep(200 * time.Millisecond) // let the decision's own updates land
	updates := len(e.slack.Calls("chat.update"))

	// The very same signed request again (a replay inside the window, or
	// Slack retrying): acknowledged, audited, and nothing happens.
	if code := e.post(body, h); code != http.StatusOK {
		t.Fatalf("replayed click = %d", code)
	}
	recs := e.waitApprovalRecords(2)
	if recs[0].Outcome != approval.OutcomeApproved || recs[1].Outcome != approval.OutcomeRefused {
		t.Errorf("audit outcomes = %s, %s", recs[0].Outcome, recs[1].Outcome)
	}
	eph := e.slack.WaitCalls(t, "chat.postEphemeral", 1, 5*time.Second)
	if eph[0].Form.Get("user") != apprUser || !strings.Contains(eph[0].Form.Get("text"), "already decided") {
		t.Errorf("ephemeral reply = %v", eph[0].Form)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(e.sink.Requests()); n != 1 {
		t.Fatalf("the step ran %d times", n)
	}
	if n := len(e.slack.Calls("chat.update")); n != updates {
		t.Errorf("the replay updated the message again")
	}
}

func TestSlackDeny(t *testing.T) {
	e := newApprEnv(t, 1)
	msg := e.requested()
	e.click(e.callback(msg, slack.ActionDeny, apprGroupUser)) // allowed through S0ONCALL
	up := e.lastUpdateWith("Denied: webhook.notify", "Denied by <@"+apprGroupUser+">")
	if len(up.ButtonValues()) != 0 {
		t.Error("a denied approval still shows buttons")
	}
	// An Approve click on the denied request changes nothing.
	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	recs := e.waitApprovalRecords(2)
	if recs[0].Outcome != approval.OutcomeDenied || recs[0].Actor != apprGroupUser || recs[1].Outcome != approval.OutcomeRefused {
		t.Errorf("audit = %+v", recs)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(e.sink.Requests()); n != 0 {
		t.Fatalf("a denied step ran (%d calls)", n)
	}
	if got := e.approvals("denied"); len(got) != 1 || got[0].DecidedBy == nil || got[0].DecidedBy.By != apprGroupUser {
		t.Errorf("denied approvals = %+v", got)
	}
}

func TestSlackUserNotAllowed(t *testing.T) {
	e := newApprEnv(t, 1)
	msg := e.requested()
	e.click(e.callback(msg, slack.ActionApprove, apprOtherUser))
	eph := e.slack.WaitCalls(t, "chat.postEphemeral", 1, 5*time.Second)
	if eph[0].Form.Get("user") != apprOtherUser || eph[0].Form.Get("channel") != "CINCIDENT-APPROVALS" || !strings.Contains(eph[0].Form.Get("text"), "not allowed") {
		t.Errorf("ephemeral reply = %v", eph[0].Form)
	}
	recs := e.waitApprovalRecords(1)
	if recs[0].Outcome != approval.OutcomeRefused || recs[0].Actor != apprOtherUser || !strings.Contains(recs[0].Message, "not allowed") {
		t.Errorf("audit = %+v", recs[0])
	}
	time.Sleep(100 * time.Millisecond)
	if len(e.sink.Requests()) != 0 || len(e.approvals("pending")) != 1 || len(e.slack.Calls("chat.update")) != 0 {
		t.Fatal("a click by someone not allow-listed had an effect")
	}
}

func TestTwoPersonRuleAcrossSlackAndAPI(t *testing.T) {
	e := newApprEnv(t, 2)
	msg := e.requested()
	if !strings.Contains(msg.Text(), "Needs 2 distinct approvers") {
		t.Errorf("message does not ask for two approvers:\n%s", msg.Text())
	}
	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	e.lastUpdateWith("(1 of 2)")
	time.Sleep(100 * time.Millisecond)
	if len(e.sink.Requests()) != 0 {
		t.Fatal("one approval of two ran the step")
	}
	// The same person again changes nothing.
	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	e.waitApprovalRecords(2)

	p := e.approvals("pending")
	if len(p) != 1 || len(p[0].Approvals) != 1 {
		t.Fatalf("pending = %+v", p)
	}
	code, body := e.apiDecide(p[0].ID, "approve", apprToken, p[0].PlanHash)
	if code != http.StatusOK || !strings.Contains(body, `"status":"approved"`) {
		t.Fatalf("API approve = %d %s", code, body)
	}
	apptest.WaitFor(t, 10*time.Second, "the approved webhook call", func() bool { return len(e.sink.Requests()) == 1 })
	e.lastUpdateWith("Approved by <@"+apprUser+">, api:oncall-bot", "Outcome:")
	recs := e.waitApprovalRecords(3)
	var got []string
	for _, r := range recs {
		got = append(got, r.Outcome+"/"+r.Actor+"/"+fmt.Sprint(r.Data["via"]))
	}
	want := "counted/" + apprUser + "/slack refused/" + apprUser + "/slack approved/api:oncall-bot/api"
	if strings.Join(got, " ") != want {
		t.Errorf("audit = %q, want %q", strings.Join(got, " "), want)
	}
}

// A playbook names who asked for its action (approval.requester): under the
// two-person rule that person's click does not count, two others must
// approve, and the request says who asked.
func TestTwoPersonRuleRefusesTheRequester(t *testing.T) {
	e := newApprEnvWith(t, "expires: 30m, approvers: 2, requester: event.labels.requested_by", map[string]string{"requested_by": apprUser})
	msg := e.requested()
	if !strings.Contains(msg.Text(), "Requested by <@"+apprUser+">") {
		t.Errorf("message does not name the requester:\n%s", msg.Text())
	}
	if p := e.approvals("pending"); len(p) != 1 || p[0].RequestedBy != apprUser {
		t.Fatalf("pending = %+v, want requested by %s", p, apprUser)
	}
	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	eph := e.slack.WaitCalls(t, "chat.postEphemeral", 1, 5*time.Second)
	if eph[0].Form.Get("user") != apprUser || !strings.Contains(eph[0].Form.Get("text"), "You requested this action") {
		t.Errorf("ephemeral reply = %v", eph[0].Form)
	}
	recs := e.waitApprovalRecords(1)
	if recs[0].Outcome != approval.OutcomeRefused || recs[0].Actor != apprUser {
		t.Errorf("audit = %+v", recs[0])
	}
	if p := e.approvals("pending"); len(p) != 1 || len(p[0].Approvals) != 0 {
		t.Fatalf("the requester's click counted: %+v", p)
	}
	// Two others: a member of the allowed group in Slack, then the API.
	e.click(e.callback(msg, slack.ActionApprove, apprGroupUser))
	e.lastUpdateWith("(1 of 2)")
	p := e.approvals("pending")
	if len(p) != 1 {
		t.Fatalf("pending = %+v", p)
	}
	if code, body := e.apiDecide(p[0].ID, "approve", apprToken, p[0].PlanHash); code != http.StatusOK {
		t.Fatalf("API approve = %d %s", code, body)
	}
	apptest.WaitFor(t, 10*time.Second, "the approved webhook call", func() bool { return len(e.sink.Requests()) == 1 })
}

// Without the label the expression names nobody, and the requester's
// exemption does not apply.
func TestRequesterAbsentNamesNobody(t *testing.T) {
	e := newApprEnvWith(t, "expires: 30m, approvers: 2, requester: event.labels.requested_by", nil)
	msg := e.requested()
	if strings.Contains(msg.Text(), "Requested by") {
		t.Errorf("message names a requester:\n%s", msg.Text())
	}
	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	e.lastUpdateWith("(1 of 2)")
}

func TestApprovalExpiresOnTheInjectedClock(t *testing.T) {
	e := newApprEnv(t, 1)
	msg := e.requested()
	e.clock.Advance(29 * time.Minute)
	time.Sleep(100 * time.Millisecond) // several sweeps
	if len(e.approvals("pending")) != 1 {
		t.Fatal("expired before its time")
	}
	e.clock.Advance(time.Minute)
	e.lastUpdateWith("Expired: webhook.notify", "denied by default")
	recs := e.waitApprovalRecords(1)
	if recs[0].Outcome != approval.OutcomeExpired {
		t.Errorf("audit = %+v", recs[0])
	}
	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	e.waitApprovalRecords(2)
	time.Sleep(100 * time.Millisecond)
	if len(e.sink.Requests()) != 0 {
		t.Fatal("an expired approval ran the step")
	}
}

func TestApprovalCancelledWhenTheAlertResolves(t *testing.T) {
	e := newApprEnv(t, 1)
	msg := e.requested()
	e.fire("resolved")
	e.lastUpdateWith("Cancelled: webhook.notify", "the alert resolved")
	recs := e.waitApprovalRecords(1)
	if recs[0].Outcome != approval.OutcomeCancelled {
		t.Errorf("audit = %+v", recs[0])
	}
	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	e.waitApprovalRecords(2)
	time.Sleep(100 * time.Millisecond)
	if len(e.sink.Requests()) != 0 {
		t.Fatal("a cancelled approval ran the step")
	}
}

func TestApprovalSurvivesRestart(t *testing.T) {
	e := newApprEnv(t, 1)
	msg := e.requested()
	before := e.approvals("pending")
	if err := e.a.Close(); err != nil {
		t.Fatal(err)
	}
	e.start() // same data directory
	after := e.approvals("pending")
	if len(after) != 1 || after[0].ID != before[0].ID || after[0].MessageID != before[0].MessageID {
		t.Fatalf("pending after restart = %+v, before %+v", after, before)
	}
	if n := len(e.slack.Calls("chat.postMessage")); n != 1 {
		t.Errorf("the restart posted the request again (%d posts)", n)
	}
	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	apptest.WaitFor(t, 10*time.Second, "the approved webhook call", func() bool { return len(e.sink.Requests()) == 1 })
	up := e.lastUpdateWith("Approved by", "Outcome:")
	if up.Form.Get("ts") != before[0].MessageID {
		t.Errorf("updated ts %s, want %s", up.Form.Get("ts"), before[0].MessageID)
	}
	// Expiry keeps running after a restart too.
	e.fire("firing") // a duplicate: nothing new
	e.clock.Advance(31 * time.Minute)
	time.Sleep(100 * time.Millisecond)
	if got := e.approvals("expired"); len(got) != 0 {
		t.Errorf("an approved approval expired: %+v", got)
	}
}

func TestApprovalsAPIAuth(t *testing.T) {
	e := newApprEnv(t, 1)
	e.requested()
	p := e.approvals("pending")[0]
	tests := []struct {
		name     string
		decision string
		token    string
		hash     string
		want     int
	}{
		{"no token", "approve", "", p.PlanHash, http.StatusUnauthorized},
		{"unknown token", "approve", "approver-token-0123456789abcdeX", p.PlanHash, http.StatusUnauthorized},
		{"viewer cannot approve", "approve", apprViewToken, p.PlanHash, http.StatusForbidden},
		{"approve needs the plan hash", "approve", apprToken, "", http.StatusBadRequest},
		{"other plan", "approve", apprToken, strings.Repeat("ab", 32), http.StatusConflict},
		{"deny without a hash", "deny", apprToken, "", http.StatusOK},
		{"approve after deny", "approve", apprToken, p.PlanHash, http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := e.apiDecide(p.ID, tt.decision, tt.token, tt.hash); code != tt.want {
				t.Errorf("status = %d %s, want %d", code, body, tt.want)
			}
		})
	}
	if code, _ := e.apiDecide("apr-missing", "deny", apprToken, "x"); code != http.StatusNotFound {
		t.Errorf("unknown approval: %d", code)
	}
	req, _ := http.NewRequest(http.MethodGet, e.a.URL()+"/api/v1/approvals", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET without a token = %d", resp.StatusCode)
	}
	if n, _ := refusalCount(t, e.a, "api"); n != 4 {
		t.Errorf("auth.failed records count %d refusals, want 4 (no token, unknown token, viewer, GET without a token)", n)
	}
	time.Sleep(100 * time.Millisecond)
	if len(e.sink.Requests()) != 0 {
		t.Fatal("the denied step ran")
	}
	for _, r := range e.records(audit.Query{}) {
		if b, _ := json.Marshal(r); bytes.Contains(b, []byte(apprToken)) || bytes.Contains(b, []byte(apprViewToken)) {
			t.Fatalf("an API token is in the audit trail: %s", b)
		}
	}
}

// Without a bot token of its own, the gate posts with the slack.notify
// client (actions.slack) to that client's default channel.
func TestApprovalReusesTheSlackNotifyClient(t *testing.T) {
	e := &apprEnv{t: t, clock: fakeclock.New(time.Now().UTC().Truncate(time.Second))}
	e.slack = slackfake.New(t)
	e.sink = apptest.NewSink(t)
	e.cfg = apptest.Config(t, fmt.Sprintf(apprPlaybook, "expires: 30m, approvers: 1", e.sink.URL))
	e.cfg.Actions.Slack.Token = slackfake.Token
	e.cfg.Actions.Slack.APIURL = e.slack.APIURL()
	e.cfg.Actions.Slack.DefaultChannel = "#sre"
	e.cfg.Approvals = app.ApprovalsConfig{SigningSecret: apprSecret, AllowedUsers: []string{apprUser}}
	e.start()
	msg := e.requested()
	if ch := msg.Form.Get("channel"); ch != "#sre" {
		t.Errorf("posted to %q, want the slack.notify default channel", ch)
	}
	e.click(e.callback(msg, slack.ActionApprove, apprUser))
	apptest.WaitFor(t, 10*time.Second, "the approved webhook call", func() bool { return len(e.sink.Requests()) == 1 })
	e.lastUpdateWith("Approved by <@"+apprUser+">", "Outcome:")
}

func TestApprovalsConfigErrors(t *testing.T) {
	const secretValue = "do-not-print-this-secret-value"
	t.Setenv("APPR_TEST_EMPTY", "")
	tests := []struct {
		name string
		cfg  app.ApprovalsConfig
		want string
	}{
		{"two sources for one secret", app.ApprovalsConfig{SigningSecret: secretValue, SigningSecretEnv: "X"}, "approvals.signing_secret: set only one of"},
		{"unset environment variable", app.ApprovalsConfig{BotTokenEnv: "APPR_TEST_EMPTY"}, "approvals.bot_token_env: environment variable APPR_TEST_EMPTY is not set"},
		{"missing secret file", app.ApprovalsConfig{SigningSecretFile: "/nonexistent/secret"}, "approvals.signing_secret_file:"},
		{"bot token without a channel", app.ApprovalsConfig{BotToken: secretValue}, "approvals.slack_channel: required"},
		{"not a user id", app.ApprovalsConfig{AllowedUsers: []string{"@alice"}}, `approvals.allowed_users: "@alice" is not a slack user id`},
		{"not a group id", app.ApprovalsConfig{AllowedGroups: []string{"oncall"}}, `approvals.allowed_groups: "oncall" is not a slack user group id`},
	}
	// The approvals API's tokens are api.tokens now, each with one role.
	tokenTests := []struct {
		name   string
		tokens []app.APIToken
		want   string
	}{
		{"short api token", []app.APIToken{{Name: "ci", Token: "short", Role: "approver"}}, "api.tokens[0].token: must be at least 16 characters"},
		{"unknown role", []app.APIToken{{Name: "ci", Token: secretValue, Role: "admin"}}, `api.tokens[0].role: "admin" must be viewer, approver or operator`},
		{"duplicate token name", []app.APIToken{
			{Name: "ci", Token: secretValue, Role: "approver"}, {Name: "ci", Token: secretValue + "2", Role: "viewer"}}, `api.tokens[1].name: "ci" is used twice`},
	}
	for _, tt := range tokenTests {
		tests = append(tests, struct {
			name string
			cfg  app.ApprovalsConfig
			want string
		}{tt.name, app.ApprovalsConfig{}, tt.want})
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := apptest.Config(t, "")
			cfg.Approvals = tt.cfg
			if j := i - (len(tests) - len(tokenTests)); j >= 0 {
				cfg.API.Tokens = tokenTests[j].tokens
			}
			a, err := app.Start(context.Background(), cfg, slogDiscard(), app.Options{})
			if err == nil {
				_ = a.Close()
				t.Fatal("started with a bad approvals section")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestApprovalsBotClientFollowsTheOutboundPolicy: the approvals' own Slack
// client (approvals.bot_token) calls Slack under actions.http like
// slack.notify does. With loopback denied, the request message to the
// Slack fake on 127.0.0.1 is refused at dial time and counted as a failed
// attempt; it used to reach Slack through a client of its own.
func TestApprovalsBotClientFollowsTheOutboundPolicy(t *testing.T) {
	e := &apprEnv{t: t, clock: fakeclock.New(time.Now().UTC().Truncate(time.Second))}
	e.slack = slackfake.New(t)
	e.sink = apptest.NewSink(t)
	e.cfg = apptest.Config(t, fmt.Sprintf(apprPlaybook, "expires: 30m, approvers: 1", e.sink.URL))
	e.cfg.Approvals = app.ApprovalsConfig{
		SlackChannel: "#incident-approvals", SigningSecret: apprSecret, BotToken: slackfake.Token,
		SlackAPIURL: e.slack.APIURL(), AllowedUsers: []string{apprUser}, SweepInterval: app.Duration(20 * time.Millisecond),
	}
	e.cfg.API.Tokens = []app.APIToken{{Name: "dashboard", Token: apprViewToken, Role: "viewer"}}
	e.cfg.Actions.HTTP.DenyCIDRs = []string{"127.0.0.0/8"}
	e.start()
	e.fire("firing")
	apptest.WaitFor(t, 10*time.Second, "a refused post of the approval message", func() bool {
		p := e.approvals("pending")
		return len(p) == 1 && p[0].NotifyAttempts > 0
	})
	if p := e.approvals("pending"); p[0].MessageID != "" {
		t.Fatalf("the approval message was posted despite actions.http.deny_cidrs: %+v", p[0])
	}
	if n := len(e.slack.Calls("chat.postMessage")); n != 0 {
		t.Fatalf("chat.postMessage reached Slack %d times despite the policy", n)
	}
}
