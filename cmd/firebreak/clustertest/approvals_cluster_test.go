package clustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/slack/slackfake"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
)

// Two approvers' API tokens, besides the viewer's.
const (
	aliceToken = "cluster-test-alice-token-0123456789"
	bobToken   = "cluster-test-bob-token-0123456789ab"
)

// decisionPlaybooks: "two-person" needs two distinct approvers, "one-person"
// one. The step posts its event's group label to the capture receiver, so
// each case counts its own runs. %[1]s is the receiver's URL, %[2]s the
// path the one-person step posts to (the "changed" replica's differs).
const decisionPlaybooks = `
name: two-person
match: event.source == "alertmanager" && event.name == "NeedsTwo"
approval: { expires: 30m, approvers: 2 }
steps:
  - action: webhook.notify
    approval: required
    timeout: 5s
    with:
      url: "%[1]s/two"
      body: { group: "{{ event.labels.group }}" }
---
name: one-person
match: event.source == "alertmanager" && event.name == "NeedsOne"
approval: { expires: 30m }
steps:
  - action: webhook.notify
    approval: required
    timeout: 5s
    with:
      url: "%[1]s/%[2]s"
      body: { group: "{{ event.labels.group }}" }
`

// newDecisionRig starts a 3-member etcd cluster and three replicas; fb-0
// and fb-1 load the same playbooks, fb-2 a one-person playbook whose step
// posts elsewhere (a playbook changed on one replica, as in a rolling
// update), so a step approved there renders another plan.
func newDecisionRig(t *testing.T) *approvalRig {
	t.Helper()
	r := &approvalRig{t: t, etcd: startEtcd(t), slack: slackfake.New(t), cap: &capture{groups: map[string]int{}}}
	capSrv := httptest.NewServer(r.cap)
	t.Cleanup(capSrv.Close)
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
    - { name: alice, role: approver, token: %s }
    - { name: bob, role: approver, token: %s }
`, apprSecret, slackfake.Token, r.slack.APIURL(), apprUser, apprViewToken, aliceToken, bobToken)
	r.reps = make([]*replica, 3)
	for i := range r.reps {
		path := "one"
		if i == 2 {
			path = "one-changed"
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "pb.yaml"), []byte(fmt.Sprintf(decisionPlaybooks, capSrv.URL, path)), 0o600); err != nil {
			t.Fatal(err)
		}
		r.reps[i] = startReplica(t, fmt.Sprintf("fb-%d", i), clusterConfig(r.etcd.clients, "/fb-decisions", dir, extra))
	}
	return r
}

// alert posts a firing alert named name, label group, to replica i.
func (r *approvalRig) alert(i int, name, group string) {
	r.t.Helper()
	b := amBody("fp-"+group, group, time.Now().Add(-time.Minute))
	b = bytes.Replace(b, []byte(`"Storm"`), []byte(`"`+name+`"`), 1)
	resp, err := http.Post(r.reps[i].url+"/hooks/alertmanager", "application/json", bytes.NewReader(b))
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		r.t.Fatalf("POST alert to %s = %d", r.reps[i].name, resp.StatusCode)
	}
}

// approvals lists the approvals of the alert of group through replica
// i's API.
func (r *approvalRig) approvals(i int, group string) []approval.Approval {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.reps[i].url+"/api/v1/approvals", nil)
	req.Header.Set("Authorization", "Bearer "+apprViewToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Approvals []approval.Approval `json:"approvals"`
	}
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET approvals from %s = %d", r.reps[i].name, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatal(err)
	}
	var mine []approval.Approval
	for _, a := range out.Approvals {
		if a.Fingerprint == "fp-"+group {
			mine = append(mine, a)
		}
	}
	return mine
}

// waitApproval waits until replica i lists exactly one approval of the
// alert of group, and cond holds for it, and returns it.
func (r *approvalRig) waitApproval(i int, group, what string, cond func(approval.Approval) bool) approval.Approval {
	r.t.Helper()
	var got approval.Approval
	waitFor(r.t, 20*time.Second, what, func() bool {
		list := r.approvals(i, group)
		if len(list) == 1 && cond(list[0]) {
			got = list[0]
			return true
		}
		return false
	})
	return got
}

// decide approves approval id with plan hash through replica i's API
// with token, and returns the status code and the approval answered.
func (r *approvalRig) decide(i int, token, id, hash string) (int, approval.Approval) {
	r.t.Helper()
	body, _ := json.Marshal(map[string]string{"plan_hash": hash})
	req, _ := http.NewRequest(http.MethodPost, r.reps[i].url+"/api/v1/approvals/"+id+"/approve", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Approval approval.Approval `json:"approval"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Approval
}

// groupRuns is how many times the capture receiver saw group.
func (r *approvalRig) groupRuns(group string) int {
	r.cap.mu.Lock()
	defer r.cap.mu.Unlock()
	return r.cap.groups[group]
}

// approvalRecords counts the approval audit records of approval id by
// outcome, read through replica i.
func (r *approvalRig) approvalRecords(i int, id string) map[string]int {
	r.t.Helper()
	out := map[string]int{}
	for _, rec := range r.records(i, audit.KindApproval, "") {
		if rec.Data["approval_id"] == id {
			out[rec.Outcome]++
		}
	}
	return out
}

// TestClusterApprovalDecisionsAcrossReplicas runs three cases on one
// cluster (its start is most of the time; about 15-25 s in all):
//
//   - two-person rule: the alert parks on fb-0; alice approves on fb-1
//     (counted, still pending), alice again on fb-2 is refused 409 and does
//     not count, bob on fb-0 approves it: the step runs once; a further
//     approval on fb-1 is refused as decided.
//   - plan binding: an approval with another plan hash is refused 409 on
//     fb-1 and leaves the approval pending; approved with the right hash
//     on fb-2, whose playbook now renders the step differently, the step
//     is refused plan_changed and never reaches the receiver.
//   - a Slack click on fb-1 and an API approval on fb-0, sent at once,
//     decide the approval once: one approved record, one run.
func TestClusterApprovalDecisionsAcrossReplicas(t *testing.T) {
	start := time.Now()
	r := newDecisionRig(t)
	pending := func(a approval.Approval) bool { return a.Status == approval.StatusPending }

	t.Run("two-person", func(t *testing.T) {
		r.t = t
		r.alert(0, "NeedsTwo", "two")
		a := r.waitApproval(1, "two", "the two-person approval, seen on fb-1", pending)
		if a.Required != 2 {
			t.Fatalf("required approvers = %d, want 2", a.Required)
		}
		code, got := r.decide(1, aliceToken, a.ID, a.PlanHash)
		if code != http.StatusOK || got.Status != approval.StatusPending || len(got.Approvals) != 1 {
			t.Fatalf("alice on fb-1: %d, status %s, %d votes; want 200, pending, 1", code, got.Status, len(got.Approvals))
		}
		if code, _ := r.decide(2, aliceToken, a.ID, a.PlanHash); code != http.StatusConflict {
			t.Fatalf("alice again on fb-2 = %d, want 409", code)
		}
		now := r.waitApproval(0, "two", "the approval on fb-0", func(approval.Approval) bool { return true })
		if now.Status != approval.StatusPending || len(now.Approvals) != 1 {
			t.Fatalf("after alice twice: status %s, votes %+v; want pending with alice's one", now.Status, now.Approvals)
		}
		if n := r.groupRuns("two"); n != 0 {
			t.Fatalf("the step ran %d times on one approver's say", n)
		}
		code, got = r.decide(0, bobToken, a.ID, a.PlanHash)
		if code != http.StatusOK || got.Status != approval.StatusApproved {
			t.Fatalf("bob on fb-0: %d, status %s; want 200, approved", code, got.Status)
		}
		if code, _ := r.decide(1, bobToken, a.ID, a.PlanHash); code != http.StatusConflict {
			t.Errorf("bob again on fb-1 after the decision = %d, want 409", code)
		}
		done := r.waitApproval(2, "two", "the approved step to be executed", func(a approval.Approval) bool { return a.Executed })
		if n := r.groupRuns("two"); n != 1 {
			t.Errorf("the approved step reached the receiver %d times, want 1 (outcome %q)", n, done.Outcome)
		}
		recs := r.approvalRecords(2, a.ID)
		if recs["counted"] != 1 || recs["approved"] != 1 {
			t.Errorf("approval records by outcome: %v; want counted 1, approved 1", recs)
		}
		var by []string
		for _, v := range done.Approvals {
			by = append(by, v.By)
		}
		if strings.Join(by, ",") != "api:alice,api:bob" {
			t.Errorf("approved by %v, want alice then bob", by)
		}
	})

	t.Run("plan-binding", func(t *testing.T) {
		r.t = t
		r.alert(0, "NeedsOne", "plan")
		a := r.waitApproval(1, "plan", "the one-person approval", pending)
		wrong := strings.Repeat("0", len(a.PlanHash))
		if code, _ := r.decide(1, aliceToken, a.ID, wrong); code != http.StatusConflict {
			t.Fatalf("approve with another plan hash on fb-1 = %d, want 409", code)
		}
		if now := r.waitApproval(0, "plan", "the approval", func(approval.Approval) bool { return true }); now.Status != approval.StatusPending {
			t.Fatalf("after a wrong plan hash: status %s, want pending", now.Status)
		}
		if code, got := r.decide(2, aliceToken, a.ID, a.PlanHash); code != http.StatusOK || got.Status != approval.StatusApproved {
			t.Fatalf("approve on fb-2: %d, %s; want 200, approved", code, got.Status)
		}
		done := r.waitApproval(0, "plan", "the approved step to be executed", func(a approval.Approval) bool { return a.Executed })
		refused := 0
		for _, rec := range r.records(1, audit.KindStepRefused, "plan_changed") {
			if rec.Playbook == "one-person" {
				refused++
			}
		}
		if refused != 1 {
			t.Errorf("%d step.refused plan_changed records, want 1 (outcome %q)", refused, done.Outcome)
		}
		if n, m := r.groupRuns("plan"), r.cap.total.Load(); n != 0 || m != 1 {
			t.Errorf("the receiver saw group plan %d times and %d posts in all; want 0 and 1 (the two-person run)", n, m)
		}
	})

	t.Run("slack-and-api-race", func(t *testing.T) {
		r.t = t
		r.alert(0, "NeedsOne", "race")
		a := r.waitApproval(1, "race", "the race's approval", func(a approval.Approval) bool {
			return a.Status == approval.StatusPending
		})
		msgs := r.slack.WaitCalls(t, "chat.postMessage", 3, 20*time.Second)
		msg := msgs[len(msgs)-1]
		if !strings.Contains(msg.ButtonValues()["firebreak_approve"], a.ID) {
			t.Fatalf("the last request message is not for approval %s: %v", a.ID, msg.ButtonValues())
		}
		var (
			wg       sync.WaitGroup
			click    int
			apiCode  int
			startGun = make(chan struct{})
		)
		wg.Add(2)
		go func() { defer wg.Done(); <-startGun; click = r.click(1, msg, "firebreak_approve") }()
		go func() { defer wg.Done(); <-startGun; apiCode, _ = r.decide(0, aliceToken, a.ID, a.PlanHash) }()
		close(startGun)
		wg.Wait()
		if click != http.StatusOK {
			t.Fatalf("the signed click on fb-1 = %d, want 200", click)
		}
		if apiCode != http.StatusOK && apiCode != http.StatusConflict {
			t.Fatalf("the API approval on fb-0 = %d, want 200 or 409", apiCode)
		}
		done := r.waitApproval(2, "race", "the raced approval to be executed", func(x approval.Approval) bool {
			return x.ID == a.ID && x.Executed
		})
		// The click is decided in the background after its 200: wait until
		// its decision (or its refusal) is no longer in flight, by which
		// time a second run would have been handed to the engine.
		waitFor(t, 10*time.Second, "the race's step to reach the receiver", func() bool { return r.groupRuns("race") >= 1 })
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && r.groupRuns("race") == 1 {
			time.Sleep(100 * time.Millisecond)
		}
		if n := r.groupRuns("race"); n != 1 {
			t.Errorf("the raced step reached the receiver %d times, want 1", n)
		}
		if recs := r.approvalRecords(1, a.ID); recs["approved"] != 1 {
			t.Errorf("approval records by outcome: %v; want approved exactly once", recs)
		}
		if done.DecidedBy == nil {
			t.Errorf("the approval has no decider: %+v", done)
		} else {
			t.Logf("decided by %s via %s (API answered %d)", done.DecidedBy.By, done.DecidedBy.Via, apiCode)
		}
	})
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}
