package clustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/actions/slack/slackfake"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/web"
)

const (
	apprSecret    = "cluster-test-signing-secret-0123456789"
	apprUser      = "U0APPROVER1"
	apprViewToken = "cluster-test-viewer-token-0123456789"
)

const approvalPlaybook = `
name: restart-with-approval
match: event.source == "alertmanager" && event.status == "firing" && event.name == "NeedsApproval"
approval: { expires: %s }
steps:
  - action: webhook.notify
    approval: required
    timeout: 5s
    with:
      url: "%s/restart"
      body: { alert: "{{ event.name }}" }
`

// approvalRig is a 3-member etcd cluster, three replicas with Slack
// approvals (a fake Slack Web API on loopback) and a capture receiver.
type approvalRig struct {
	t     *testing.T
	etcd  *etcdCluster
	slack *slackfake.Server
	cap   *capture
	reps  []*replica
}

func newApprovalRig(t *testing.T, expires string) *approvalRig {
	t.Helper()
	r := &approvalRig{t: t, etcd: startEtcd(t), slack: slackfake.New(t), cap: &capture{groups: map[string]int{}}}
	capSrv := httptest.NewServer(r.cap)
	t.Cleanup(capSrv.Close)
	pbDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pbDir, "approval.yaml"), []byte(fmt.Sprintf(approvalPlaybook, expires, capSrv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`approvals:
  slack_channel: "#approvals"
  signing_secret: %s
  bot_token: %s
  slack_api_url: %s
  allowed_users: [%s]
  sweep_interval: 200ms
api:
  tokens:
    - { name: viewer, role: viewer, token: %s }
`, apprSecret, slackfake.Token, r.slack.APIURL(), apprUser, apprViewToken)
	body := clusterConfig(r.etcd.clients, "/fb-approvals", pbDir, extra)
	r.reps = make([]*replica, 3)
	for i := range r.reps {
		r.reps[i] = startReplica(t, fmt.Sprintf("fb-%d", i), body)
	}
	return r
}

// fire posts the alert to replica i.
func (r *approvalRig) fire(i int) {
	r.t.Helper()
	b := amBody("fp-approval", "g", time.Now().Add(-time.Minute))
	b = bytes.Replace(b, []byte(`"Storm"`), []byte(`"NeedsApproval"`), 1)
	resp, err := http.Post(r.reps[i].url+"/hooks/alertmanager", "application/json", bytes.NewReader(b))
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		r.t.Fatalf("POST alert to %s = %d", r.reps[i].name, resp.StatusCode)
	}
}

// records asks replica i's API for the audit records of kind.
func (r *approvalRig) records(i int, kind audit.Kind, outcome string) []audit.Record {
	r.t.Helper()
	q := url.Values{"kind": {string(kind)}, "limit": {"1000"}}
	if outcome != "" {
		q.Set("outcome", outcome)
	}
	req, _ := http.NewRequest(http.MethodGet, r.reps[i].url+"/api/v1/audit?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+apprViewToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Records []audit.Record `json:"records"`
	}
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET audit from %s = %d", r.reps[i].name, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatal(err)
	}
	return out.Records
}

// click sends a Slack-signed click on the message's button to replica i.
func (r *approvalRig) click(i int, msg slackfake.Call, actionID string) int {
	r.t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "app", "testdata", "slack-block-actions.json"))
	if err != nil {
		r.t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		r.t.Fatal(err)
	}
	value := msg.ButtonValues()[actionID]
	if value == "" {
		r.t.Fatalf("the message has no %s button: %v", actionID, msg.ButtonValues())
	}
	p["user"].(map[string]any)["id"] = apprUser
	act := p["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["value"], act["block_id"] = actionID, value, slack.ApprovalBlock
	b, _ := json.Marshal(p)
	body := []byte("payload=" + url.QueryEscape(string(b)))
	req, _ := http.NewRequest(http.MethodPost, r.reps[i].url+"/slack/interactions", bytes.NewReader(body))
	req.Header = web.SlackSignForTest(apprSecret, time.Now(), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestClusterSlackClickOnAnotherReplica: the step parks on the replica that
// took the alert; the Slack click reaches another replica, which decides
// the approval; the step runs once. A second click on the third replica
// runs nothing more.
func TestClusterSlackClickOnAnotherReplica(t *testing.T) {
	start := time.Now()
	r := newApprovalRig(t, "30m")
	r.fire(0)
	msg := r.slack.WaitCalls(t, "chat.postMessage", 1, 20*time.Second)[0]
	if code := r.click(1, msg, "firebreak_approve"); code != http.StatusOK {
		t.Fatalf("signed click on fb-1 = %d, want 200", code)
	}
	waitFor(t, 20*time.Second, "the approved step to run", func() bool { return r.cap.total.Load() >= 1 })
	if code := r.click(2, msg, "firebreak_approve"); code != http.StatusOK {
		t.Fatalf("second click on fb-2 = %d, want 200 (answered, not acted on)", code)
	}
	time.Sleep(2 * time.Second) // give a wrong second run its chance
	if n := r.cap.total.Load(); n != 1 {
		t.Errorf("the approved step reached the receiver %d times, want 1", n)
	}
	if recs := r.records(2, audit.KindStepSucceeded, ""); len(recs) != 1 {
		t.Errorf("%d step.succeeded records, want 1", len(recs))
	}
	approved := r.records(0, audit.KindApproval, "approved")
	if len(approved) != 1 {
		t.Errorf("%d approval/approved records, want 1", len(approved))
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// TestClusterLeaderFailoverExpiry: an approval is about to expire when the
// leader (whose timers expire approvals) is killed with SIGKILL; it
// expires exactly once, on the new leader.
func TestClusterLeaderFailoverExpiry(t *testing.T) {
	start := time.Now()
	const expires = 8 * time.Second
	r := newApprovalRig(t, expires.String())
	leader := -1
	waitFor(t, 20*time.Second, "a leader", func() bool {
		for i, rep := range r.reps {
			if rep.LogContains("this replica leads") {
				leader = i
				return true
			}
		}
		return false
	})
	other := (leader + 1) % 3
	r.fire(other)
	r.slack.WaitCalls(t, "chat.postMessage", 1, 20*time.Second)
	requested := time.Now()
	time.Sleep(expires - 1500*time.Millisecond)
	if got := r.records(other, audit.KindApproval, "expired"); len(got) != 0 {
		t.Fatalf("expired before the leader was killed: %+v", got)
	}
	r.reps[leader].Kill()
	t.Logf("killed the leader %s %s after the request", r.reps[leader].name, time.Since(requested).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "the approval to expire", func() bool {
		return len(r.records(other, audit.KindApproval, "expired")) > 0
	})
	time.Sleep(2 * time.Second) // several sweeps of every replica
	if got := r.records(other, audit.KindApproval, "expired"); len(got) != 1 {
		t.Errorf("%d approval/expired records, want exactly 1", len(got))
	}
	var by []string
	for i, rep := range r.reps {
		if rep.LogContains("approval expired without a decision") {
			by = append(by, rep.name)
			if i == leader {
				t.Errorf("the killed leader %s expired the approval", rep.name)
			}
			if !rep.LogContains("this replica leads") {
				t.Errorf("%s expired the approval without leading", rep.name)
			}
		}
	}
	if len(by) != 1 {
		t.Errorf("replicas that expired the approval: %v, want one (the new leader)", by)
	}
	if n := r.cap.total.Load(); n != 0 {
		t.Errorf("the expired step ran %d times", n)
	}
	t.Logf("expired on %v; took %s", by, time.Since(start).Round(time.Millisecond))
}
