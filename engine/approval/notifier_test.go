package approval_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/state"
)

// webhookNotifier is a second notifier, written outside the package: it
// POSTs each request and each update as JSON to a URL. That the gate works
// with it unchanged is what the Notifier interface promises.
type webhookNotifier struct {
	url    string
	client *http.Client
}

type webhookBody struct {
	Op      string           `json:"op"`
	Ref     string           `json:"ref,omitempty"`
	Request approval.Request `json:"request"`
	State   *approval.State  `json:"state,omitempty"`
}

func (n *webhookNotifier) Available() error { return nil }

func (n *webhookNotifier) send(ctx context.Context, b webhookBody) (string, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("webhook answered %s", resp.Status)
	}
	return resp.Header.Get("X-Message-Id"), nil
}

func (n *webhookNotifier) PostRequest(ctx context.Context, r approval.Request) (approval.MessageRef, error) {
	id, err := n.send(ctx, webhookBody{Op: "post", Request: r})
	return approval.MessageRef{Channel: r.Channel, ID: id}, err
}

func (n *webhookNotifier) UpdateRequest(ctx context.Context, ref approval.MessageRef, r approval.Request, st approval.State) error {
	_, err := n.send(ctx, webhookBody{Op: "update", Ref: ref.ID, Request: r, State: &st})
	return err
}

// receiver is a real HTTP server on 127.0.0.1 that records what the
// webhook notifier sent.
type receiver struct {
	mu     sync.Mutex
	bodies []webhookBody
	fail   bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b webhookBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	rc.bodies = append(rc.bodies, b)
	w.Header().Set("X-Message-Id", fmt.Sprintf("msg-%d", len(rc.bodies)))
}

func (rc *receiver) got() []webhookBody {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhookBody(nil), rc.bodies...)
}

// A notifier that is not Slack (a plain webhook) posts the request, gets
// the decision through a click and shows the outcome, with the real service
// over a real store; it is neither a GroupChecker nor a Replier, and the
// gate copes.
func TestAWebhookNotifierDrivesTheGate(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	h := newHarness(t, func(c *approval.Config) {
		c.Notifier = &webhookNotifier{url: srv.URL, client: srv.Client()}
		c.Channel = "oncall"
	})

	a := h.park(plan(firing("fp1"), 1, cartParams()))
	posts := rc.got()
	if len(posts) != 1 || posts[0].Op != "post" {
		t.Fatalf("webhook got %+v, want one post", posts)
	}
	req := posts[0].Request
	if req.ID != a.ID || req.PlanHash != a.PlanHash || req.Channel != "oncall" || req.Action != "kubernetes.restart" || req.Params["token"] != "[redacted]" {
		t.Errorf("posted request = %+v", req)
	}
	if len(h.slack.Calls("chat.postMessage")) != 0 {
		t.Error("the gate still called Slack")
	}
	if a.MessageID != "msg-1" || a.MessageChannel != "oncall" {
		t.Errorf("remembered %q/%q, want oncall/msg-1", a.MessageChannel, a.MessageID)
	}

	// Someone not allow-listed clicks: refused, nothing runs, no reply is
	// attempted (the notifier cannot reply), and the message is unchanged.
	h.svc.HandleClick(context.Background(), approval.Click{ApprovalID: a.ID, PlanHash: a.PlanHash, Decision: approval.Approve, UserID: mall, Via: "webhook"})
	h.svc.Wait()
	if got := h.get(a.ID); got.Status != approval.StatusPending || len(h.continued()) != 0 {
		t.Fatalf("a refused click changed the approval: %s, %d runs", got.Status, len(h.continued()))
	}

	h.svc.HandleClick(context.Background(), approval.Click{ApprovalID: a.ID, PlanHash: a.PlanHash, Decision: approval.Approve, UserID: alice, UserName: "alice", Via: "webhook"})
	h.svc.Wait()
	if got := h.get(a.ID); got.Status != approval.StatusApproved {
		t.Fatalf("after alice's click: %s", got.Status)
	}
	if runs := h.continued(); len(runs) != 1 || runs[0].ApprovedBy != alice {
		t.Fatalf("runs = %+v, want one approved by alice", runs)
	}
	recs := h.approvalRecords()
	if got := outcomes(recs); got != "refused:"+mall+" approved:"+alice {
		t.Errorf("audit outcomes = %q", got)
	}
	for _, r := range recs {
		if r.Data["via"] != "webhook" {
			t.Errorf("audit record %s via %v, want webhook", r.Outcome, r.Data["via"])
		}
	}

	var updates []webhookBody
	for _, b := range rc.got() {
		if b.Op == "update" {
			updates = append(updates, b)
		}
	}
	if len(updates) == 0 {
		t.Fatal("the message was never updated")
	}
	last := updates[len(updates)-1]
	if last.Ref != "msg-1" || last.State.Status != approval.StatusApproved || !strings.Contains(last.State.Outcome, "restarted Deployment shop/cart") {
		t.Errorf("last update = ref %q state %+v", last.Ref, last.State)
	}
}

// A webhook that is down leaves the approval pending and decidable through
// the API; the sweeper posts it again later, as it does for Slack.
func TestAWebhookNotifierThatFailsIsRetried(t *testing.T) {
	rc := &receiver{fail: true}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	h := newHarness(t, func(c *approval.Config) {
		c.Notifier = &webhookNotifier{url: srv.URL, client: srv.Client()}
	})
	p := plan(firing("fp1"), 1, cartParams())
	var id string
	if err := h.db.Update(context.Background(), func(tx state.Tx) error {
		var err error
		id, err = h.svc.Park(tx, p, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Notify(context.Background(), id); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Notify = %v, want the webhook's 503", err)
	}
	if a := h.get(id); a.MessageID != "" || a.NotifyAttempts != 1 {
		t.Fatalf("after a failed post: id %q attempts %d", a.MessageID, a.NotifyAttempts)
	}
	rc.mu.Lock()
	rc.fail = false
	rc.mu.Unlock()
	h.clock.Advance(2 * time.Minute)
	if _, err := h.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := h.get(id); a.MessageID != "msg-1" {
		t.Fatalf("the sweeper did not post again: id %q", a.MessageID)
	}
}
