package approval_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/actions/slack/slackfake"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/internal/fakeclock"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
)

// restartAction is a stand-in action with a secret parameter.
type restartAction struct{}

func (restartAction) Spec() actions.Spec {
	return actions.Spec{ID: "kubernetes.restart", Params: []actions.Param{
		{Name: "namespace", Type: actions.String}, {Name: "name", Type: actions.String},
		{Name: "token", Type: actions.String, Secret: true},
	}}
}
func (restartAction) Validate(map[string]any, bool) error { return nil }
func (restartAction) Target(p map[string]any) actions.Target {
	return actions.Target{Kind: "Deployment", Namespace: p["namespace"].(string), Name: p["name"].(string)}
}
func (restartAction) Run(context.Context, actions.Request) (actions.Result, error) {
	return actions.Result{}, nil
}

// continued is one call of the fake engine's Continue.
type continued struct {
	Seq        uint64
	Playbook   string
	Phase      string
	From       int
	ApprovedBy string
}

// harness is an approval service over a real bbolt file, a fake Slack and
// a fake engine that records Continue calls and audits a success.
type harness struct {
	t     *testing.T
	path  string
	clock *fakeclock.Clock
	db    *store.DB
	slack *slackfake.Server
	svc   *approval.Service
	cfg   approval.Config

	mu    sync.Mutex
	calls []continued
	// block, when set, makes Continue wait on it.
	block chan struct{}
}

const (
	alice = "U0ALICE"
	bob   = "U0BOB"
	carol = "U0CAROL" // member of S0ONCALL only
	mall  = "U0MALLORY"
)

var t0 = time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, mutate func(*approval.Config)) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "firebreak.db"), clock: fakeclock.New(t0)}
	h.slack = slackfake.New(t)
	h.slack.Groups["S0ONCALL"] = []string{carol}
	h.cfg = approval.Config{
		Notifier:      slack.NewApprovalNotifier(slack.New(slack.Config{Token: slackfake.Token, APIURL: h.slack.APIURL()})),
		Channel:       "#approvals",
		AllowedUsers:  []string{alice, bob},
		AllowedGroups: []string{"S0ONCALL"},
		DefaultExpiry: 10 * time.Minute,
		Continue:      h.continueStep,
		Trail:         h.trail,
		Now:           h.clock.Now,
	}
	if mutate != nil {
		mutate(&h.cfg)
	}
	h.open()
	return h
}

// open opens the store and a fresh service over it (a process start).
func (h *harness) open() {
	h.t.Helper()
	db, err := store.Open(h.path, store.Options{NoSync: true, Now: h.clock.Now})
	if err != nil {
		h.t.Fatal(err)
	}
	h.db = db
	cfg := h.cfg
	cfg.Store = db
	h.svc = approval.New(cfg)
	h.t.Cleanup(func() { h.svc.Wait(); _ = db.Close() })
}

// restart closes the service and the store and opens both again.
func (h *harness) restart() {
	h.t.Helper()
	h.svc.Wait()
	if err := h.db.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func (h *harness) continueStep(ctx context.Context, seq uint64, pb, phase string, from int, by string) error {
	h.mu.Lock()
	h.calls = append(h.calls, continued{seq, pb, phase, from, by})
	block := h.block
	h.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.db.Audit(ctx, audit.Record{Kind: audit.KindStepSucceeded, EventID: "ev-1", Playbook: pb, Step: audit.StepIndex(from),
		Action: "kubernetes.restart", Outcome: "ok", Message: "restarted Deployment shop/cart"})
}

func (h *harness) trail(ctx context.Context, eventID, pb string, since time.Time) ([]audit.Record, error) {
	recs, _, err := h.db.ListAudit(ctx, audit.Query{EventID: eventID, Playbook: pb, Since: since, Limit: 1000})
	return recs, err
}

func (h *harness) continued() []continued {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]continued(nil), h.calls...)
}

func firing(fp string) *event.Event {
	return &event.Event{ID: "ev-1", Source: "alertmanager", Status: event.StatusFiring, Name: "KubePodCrashLooping",
		Severity: event.SeverityCritical, Fingerprint: fp, Labels: map[string]string{"namespace": "shop", "deployment": "cart"},
		Raw: []byte(`{"raw":"payload"}`)}
}

func plan(ev *event.Event, approvers int, params map[string]any) *engine.Plan {
	pb := &playbooks.Playbook{Name: "restart-cart", Approval: &playbooks.Approval{Expires: 15 * time.Minute, Approvers: approvers}}
	st := &playbooks.Step{Index: 0, Action: "kubernetes.restart"}
	act := restartAction{}
	return &engine.Plan{Seq: 7, Event: ev, Playbook: pb, Phase: engine.PhaseSteps, Step: st, Action: act, Params: params, Target: act.Target(params)}
}

func cartParams() map[string]any {
	return map[string]any{"namespace": "shop", "name": "cart", "token": "s3cr3t-token-value"}
}

// park parks p and posts its message, as the engine does.
func (h *harness) park(p *engine.Plan) approval.Approval {
	h.t.Helper()
	var id string
	err := h.db.Update(context.Background(), func(tx state.Tx) error {
		var err error
		id, err = h.svc.Park(tx, p, []engine.Verdict{{}})
		return err
	})
	if err != nil {
		h.t.Fatalf("park: %v", err)
	}
	if err := h.svc.Notify(context.Background(), id); err != nil {
		h.t.Fatalf("notify: %v", err)
	}
	return h.get(id)
}

func (h *harness) get(id string) approval.Approval {
	h.t.Helper()
	a, err := approval.Get(context.Background(), h.db, id)
	if err != nil {
		h.t.Fatalf("get %s: %v", id, err)
	}
	return a
}

func (h *harness) decide(a approval.Approval, d approval.Decision, who string) error {
	_, err := h.svc.Decide(context.Background(), a.ID, a.PlanHash, d, approval.Actor{ID: who}, approval.ViaSlack)
	h.svc.Wait()
	return err
}

func (h *harness) approvalRecords() []audit.Record {
	h.t.Helper()
	recs, _, err := h.db.ListAudit(context.Background(), audit.Query{Kind: audit.KindApproval, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return recs
}

func outcomes(recs []audit.Record) string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Outcome+":"+r.Actor)
	}
	return strings.Join(out, " ")
}

func TestParkPostsTheRequest(t *testing.T) {
	h := newHarness(t, nil)
	a := h.park(plan(firing("fp1"), 1, cartParams()))

	if a.Status != approval.StatusPending || a.Required != 1 || a.EventSeq != 7 || a.Fingerprint != "fp1" {
		t.Errorf("parked approval = %+v", a)
	}
	if !a.ExpiresAt.Equal(t0.Add(15*time.Minute)) || !a.RequestedAt.Equal(t0) {
		t.Errorf("requested %s, expires %s; want the playbook's 15m from %s", a.RequestedAt, a.ExpiresAt, t0)
	}
	want, _ := approval.PlanHash("kubernetes.restart", cartParams())
	if a.PlanHash != want {
		t.Errorf("plan hash = %s, want %s", a.PlanHash, want)
	}
	if a.Params["token"] != "[redacted]" || a.Event.Raw != nil {
		t.Errorf("stored a secret or the raw payload: params %v raw %q", a.Params, a.Event.Raw)
	}
	posts := h.slack.Calls("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("posted %d messages, want 1", len(posts))
	}
	if posts[0].Form.Get("channel") != "#approvals" || a.MessageChannel != "CAPPROVALS" || a.MessageID == "" {
		t.Errorf("posted to %q; remembered %q/%q", posts[0].Form.Get("channel"), a.MessageChannel, a.MessageID)
	}
	text := posts[0].Text()
	for _, w := range []string{"Approval needed: kubernetes.restart on Deployment/shop/cart", "KubePodCrashLooping", "restart-cart",
		`namespace: "shop"`, `token: "[redacted]"`, "guards: pass", "(denied if undecided)", a.ID} {
		if !strings.Contains(text, w) {
			t.Errorf("message lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "s3cr3t") {
		t.Errorf("message shows the secret parameter")
	}
	if v := posts[0].ButtonValues(); v[slack.ActionApprove] != a.ID+":"+a.PlanHash || v[slack.ActionDeny] != a.ID+":"+a.PlanHash {
		t.Errorf("button values = %v", v)
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		who        string
		decision   approval.Decision
		hash       func(a approval.Approval) string
		wantErr    error
		wantStatus approval.Status
		wantRuns   int
		wantAudit  string
		wantUpdate []string
	}{
		{name: "allow-listed user approves", who: alice, decision: approval.Approve, wantStatus: approval.StatusApproved, wantRuns: 1,
			wantAudit: "approved:" + alice, wantUpdate: []string{"Approved: kubernetes.restart", "Approved by <@U0ALICE>", "Outcome: restarted Deployment shop/cart"}},
		{name: "user group member approves", who: carol, decision: approval.Approve, wantStatus: approval.StatusApproved, wantRuns: 1,
			wantAudit: "approved:" + carol, wantUpdate: []string{"Approved by <@U0CAROL>"}},
		{name: "deny", who: bob, decision: approval.Deny, wantStatus: approval.StatusDenied,
			wantAudit: "denied:" + bob, wantUpdate: []string{"Denied: kubernetes.restart", "Denied by <@U0BOB>"}},
		{name: "not allow-listed", who: mall, decision: approval.Approve, wantErr: approval.ErrNotAllowed, wantStatus: approval.StatusPending,
			wantAudit: "refused:" + mall},
		{name: "other plan", who: alice, decision: approval.Approve, hash: func(approval.Approval) string { return strings.Repeat("0", 64) },
			wantErr: approval.ErrPlanMismatch, wantStatus: approval.StatusPending, wantAudit: "refused:" + alice},
		{name: "bad decision", who: alice, decision: "maybe", wantErr: approval.ErrBadDecision, wantStatus: approval.StatusPending, wantAudit: "refused:" + alice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			a := h.park(plan(firing("fp1"), 1, cartParams()))
			hash := a.PlanHash
			if tt.hash != nil {
				hash = tt.hash(a)
			}
			_, err := h.svc.Decide(context.Background(), a.ID, hash, tt.decision, approval.Actor{ID: tt.who}, approval.ViaSlack)
			h.svc.Wait()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decide err = %v, want %v", err, tt.wantErr)
			}
			got := h.get(a.ID)
			if got.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s", got.Status, tt.wantStatus)
			}
			runs := h.continued()
			if len(runs) != tt.wantRuns {
				t.Fatalf("engine ran %d times, want %d", len(runs), tt.wantRuns)
			}
			if tt.wantRuns > 0 {
				if want := (continued{7, "restart-cart", engine.PhaseSteps, 0, tt.who}); runs[0] != want {
					t.Errorf("Continue(%+v), want %+v", runs[0], want)
				}
				if !got.Executed || got.Failed || got.Outcome != "restarted Deployment shop/cart" {
					t.Errorf("outcome = %q failed=%v executed=%v", got.Outcome, got.Failed, got.Executed)
				}
			}
			recs := h.approvalRecords()
			if outcomes(recs) != tt.wantAudit {
				t.Errorf("approval audit = %q, want %q", outcomes(recs), tt.wantAudit)
			}
			if len(recs) == 1 && (recs[0].Data["via"] != "slack" || recs[0].EventID != "ev-1" || recs[0].Data["approval_id"] != a.ID) {
				t.Errorf("audit record lacks how/what: %+v", recs[0])
			}
			ups := h.slack.Calls("chat.update")
			if len(tt.wantUpdate) == 0 {
				if len(ups) != 0 {
					t.Errorf("message updated %d times after a refusal", len(ups))
				}
				return
			}
			if len(ups) == 0 {
				t.Fatal("message not updated")
			}
			last := ups[len(ups)-1]
			if last.Form.Get("ts") != a.MessageID || last.Form.Get("channel") != a.MessageChannel {
				t.Errorf("updated %s/%s, want %s/%s", last.Form.Get("channel"), last.Form.Get("ts"), a.MessageChannel, a.MessageID)
			}
			for _, w := range tt.wantUpdate {
				if !strings.Contains(last.Text(), w) {
					t.Errorf("update lacks %q:\n%s", w, last.Text())
				}
			}
			if len(last.ButtonValues()) != 0 {
				t.Errorf("a decided approval still has buttons")
			}
		})
	}
}

func TestUnknownApproval(t *testing.T) {
	h := newHarness(t, nil)
	_, err := h.svc.Decide(context.Background(), "apr-nope", "x", approval.Approve, approval.Actor{ID: alice}, approval.ViaSlack)
	if !errors.Is(err, approval.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if got := outcomes(h.approvalRecords()); got != "refused:"+alice {
		t.Errorf("audit = %q", got)
	}
}

func TestSecondClickChangesNothing(t *testing.T) {
	for _, second := range []approval.Decision{approval.Approve, approval.Deny} {
		t.Run(string(second), func(t *testing.T) {
			h := newHarness(t, nil)
			a := h.park(plan(firing("fp1"), 1, cartParams()))
			if err := h.decide(a, approval.Approve, alice); err != nil {
				t.Fatal(err)
			}
			updates := len(h.slack.Calls("chat.update"))
			for _, who := range []string{alice, bob} {
				if err := h.decide(a, second, who); !errors.Is(err, approval.ErrDecided) {
					t.Fatalf("second click by %s: err = %v, want ErrDecided", who, err)
				}
			}
			if n := len(h.continued()); n != 1 {
				t.Errorf("engine ran %d times, want once", n)
			}
			if got := h.get(a.ID); got.Status != approval.StatusApproved || len(got.Approvals) != 1 {
				t.Errorf("approval changed: %+v", got)
			}
			if n := len(h.slack.Calls("chat.update")); n != updates {
				t.Errorf("message updated again (%d → %d)", updates, n)
			}
			if got := outcomes(h.approvalRecords()); got != "approved:U0ALICE refused:U0ALICE refused:U0BOB" {
				t.Errorf("audit = %q", got)
			}
		})
	}
}

func TestTwoPersonRule(t *testing.T) {
	h := newHarness(t, func(c *approval.Config) {
		c.Requester = func(*engine.Plan) string { return "api:ci" }
	})
	a := h.park(plan(firing("fp1"), 2, cartParams()))
	if a.Required != 2 || a.RequestedBy != "api:ci" {
		t.Fatalf("required %d, requested by %q", a.Required, a.RequestedBy)
	}
	if !strings.Contains(h.slack.Calls("chat.postMessage")[0].Text(), "Needs 2 distinct approvers") {
		t.Errorf("message does not say two approvers are needed")
	}
	if err := h.decide(a, approval.Approve, alice); err != nil {
		t.Fatal(err)
	}
	if got := h.get(a.ID); got.Status != approval.StatusPending || len(h.continued()) != 0 {
		t.Fatalf("one approval of two ran the step: %s, %d runs", got.Status, len(h.continued()))
	}
	ups := h.slack.Calls("chat.update")
	if len(ups) != 1 || !strings.Contains(ups[0].Text(), "Approved by <@U0ALICE> (1 of 2)") || len(ups[0].ButtonValues()) != 2 {
		t.Errorf("update after the first approval = %v", ups)
	}
	if err := h.decide(a, approval.Approve, alice); !errors.Is(err, approval.ErrAlreadyApproved) {
		t.Fatalf("same person twice: err = %v", err)
	}
	// The requester cannot be one of the approvers.
	_, err := h.svc.Decide(context.Background(), a.ID, a.PlanHash, approval.Approve, approval.Actor{ID: "api:ci", Name: "ci"}, approval.ViaAPI)
	h.svc.Wait()
	if !errors.Is(err, approval.ErrRequester) {
		t.Fatalf("requester approves: err = %v", err)
	}
	if len(h.continued()) != 0 {
		t.Fatal("the step ran without a second distinct approver")
	}
	if err := h.decide(a, approval.Approve, bob); err != nil {
		t.Fatal(err)
	}
	runs := h.continued()
	if len(runs) != 1 || runs[0].ApprovedBy != "U0ALICE,U0BOB" {
		t.Fatalf("runs = %+v, want one approved by both", runs)
	}
	if got := outcomes(h.approvalRecords()); got != "counted:U0ALICE refused:U0ALICE refused:api:ci approved:U0BOB" {
		t.Errorf("audit = %q", got)
	}
}

func TestExpiry(t *testing.T) {
	h := newHarness(t, nil)
	a := h.park(plan(firing("fp1"), 1, cartParams()))
	h.clock.Advance(14 * time.Minute)
	if n, err := h.svc.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweep before expiry: %d, %v", n, err)
	}
	h.clock.Advance(time.Minute)
	if n, err := h.svc.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep at expiry: %d, %v", n, err)
	}
	got := h.get(a.ID)
	if got.Status != approval.StatusExpired || !got.DecidedAt.Equal(t0.Add(15*time.Minute)) {
		t.Errorf("after expiry: %s at %s", got.Status, got.DecidedAt)
	}
	ups := h.slack.Calls("chat.update")
	if len(ups) != 1 || !strings.Contains(ups[0].Text(), "Expired: kubernetes.restart") || !strings.Contains(ups[0].Text(), "denied by default") {
		t.Fatalf("updates = %d; %v", len(ups), ups)
	}
	if err := h.decide(a, approval.Approve, alice); !errors.Is(err, approval.ErrDecided) {
		t.Errorf("approve after expiry: err = %v", err)
	}
	if len(h.continued()) != 0 {
		t.Error("an expired approval ran the step")
	}
	if got := outcomes(h.approvalRecords()); got != "expired: refused:U0ALICE" {
		t.Errorf("audit = %q", got)
	}
}

func TestClickAfterExpiryBeforeSweep(t *testing.T) {
	h := newHarness(t, nil)
	a := h.park(plan(firing("fp1"), 1, cartParams()))
	h.clock.Advance(15 * time.Minute)
	if err := h.decide(a, approval.Approve, alice); !errors.Is(err, approval.ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired", err)
	}
	if got := h.get(a.ID); got.Status != approval.StatusExpired || len(h.continued()) != 0 {
		t.Errorf("status %s, runs %d", got.Status, len(h.continued()))
	}
}

func TestCancelOnResolve(t *testing.T) {
	h := newHarness(t, nil)
	mine := h.park(plan(firing("fp1"), 1, cartParams()))
	otherEv := firing("fp2")
	otherEv.ID = "ev-2"
	other := h.park(plan(otherEv, 1, map[string]any{"namespace": "shop", "name": "pricing"}))

	resolved := firing("fp1")
	resolved.ID, resolved.Status = "ev-1-resolved", event.StatusResolved
	if err := h.svc.Cancel(context.Background(), resolved); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got := h.get(mine.ID); got.Status != approval.StatusCancelled || got.Reason != "the alert resolved" {
		t.Errorf("resolved alert's approval: %s (%s)", got.Status, got.Reason)
	}
	if got := h.get(other.ID); got.Status != approval.StatusPending {
		t.Errorf("another alert's approval was %s", got.Status)
	}
	ups := h.slack.Calls("chat.update")
	if len(ups) != 1 || ups[0].Form.Get("ts") != mine.MessageID || !strings.Contains(ups[0].Text(), "Cancelled: kubernetes.restart") || !strings.Contains(ups[0].Text(), ": the alert resolved.") {
		t.Fatalf("updates = %v", ups)
	}
	if err := h.decide(mine, approval.Approve, alice); !errors.Is(err, approval.ErrDecided) {
		t.Errorf("approve after cancel: %v", err)
	}
	if len(h.continued()) != 0 {
		t.Error("a cancelled approval ran the step")
	}
	if got := outcomes(h.approvalRecords()); got != "cancelled: refused:U0ALICE" {
		t.Errorf("audit = %q", got)
	}
}

func TestRestartWhilePending(t *testing.T) {
	h := newHarness(t, nil)
	a := h.park(plan(firing("fp1"), 2, cartParams()))
	if err := h.decide(a, approval.Approve, alice); err != nil {
		t.Fatal(err)
	}
	h.restart()

	list, err := approval.List(context.Background(), h.db, approval.Filter{Status: approval.StatusPending})
	if err != nil || len(list) != 1 || list[0].ID != a.ID || len(list[0].Approvals) != 1 {
		t.Fatalf("pending after restart = %+v, %v", list, err)
	}
	if err := h.decide(a, approval.Approve, bob); err != nil {
		t.Fatal(err)
	}
	if runs := h.continued(); len(runs) != 1 || runs[0].ApprovedBy != "U0ALICE,U0BOB" {
		t.Fatalf("runs after restart = %+v", runs)
	}
	// The message posted before the restart is the one updated after it.
	ups := h.slack.Calls("chat.update")
	if last := ups[len(ups)-1]; last.Form.Get("ts") != a.MessageID || !strings.Contains(last.Text(), "Outcome: restarted") {
		t.Errorf("last update = %s %s", last.Form.Get("ts"), last.Text())
	}
}

func TestExpiryKeepsRunningAfterRestart(t *testing.T) {
	h := newHarness(t, nil)
	a := h.park(plan(firing("fp1"), 1, cartParams()))
	h.restart()
	h.clock.Advance(20 * time.Minute)
	if n, err := h.svc.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep after restart: %d, %v", n, err)
	}
	if got := h.get(a.ID); got.Status != approval.StatusExpired {
		t.Errorf("status = %s", got.Status)
	}
}

// A process that stops after the approval was committed but before the
// engine ran the step hands it over when it starts again.
func TestResumeApprovedAfterCrash(t *testing.T) {
	h := newHarness(t, nil)
	a := h.park(plan(firing("fp1"), 1, cartParams()))
	h.mu.Lock()
	h.block = make(chan struct{})
	h.mu.Unlock()
	if _, err := h.svc.Decide(context.Background(), a.ID, a.PlanHash, approval.Approve, approval.Actor{ID: alice}, approval.ViaSlack); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(h.continued()) == 1 })
	// Snapshot the committed file while the step is "running": that is
	// the state a crash leaves behind.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	copyFile(t, h.path, crashed)
	close(h.block)
	h.svc.Wait()

	h2 := &harness{t: t, path: crashed, clock: h.clock, slack: h.slack, cfg: h.cfg}
	h2.cfg.Continue = h2.continueStep
	h2.cfg.Trail = h2.trail
	h2.open()
	if got := h2.get(a.ID); got.Status != approval.StatusApproved || got.Executed {
		t.Fatalf("crashed state = %s executed=%v", got.Status, got.Executed)
	}
	if err := h2.svc.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	h2.svc.Wait()
	if runs := h2.continued(); len(runs) != 1 || runs[0].ApprovedBy != alice {
		t.Fatalf("resumed runs = %+v", runs)
	}
	if got := h2.get(a.ID); !got.Executed || got.Outcome == "" {
		t.Errorf("after resume: %+v", got)
	}
	// A second start finds nothing left to resume.
	if err := h2.svc.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	h2.svc.Wait()
	if n := len(h2.continued()); n != 1 {
		t.Errorf("resumed twice: %d runs", n)
	}
}

func TestCheckApproved(t *testing.T) {
	h := newHarness(t, nil)
	p := plan(firing("fp1"), 1, cartParams())
	a := h.park(p)
	check := func(p *engine.Plan) engine.Verdict {
		var v engine.Verdict
		err := h.db.View(context.Background(), func(tx state.Tx) error {
			var err error
			v, err = h.svc.CheckApproved(tx, p)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := check(p); v.Reason != "not_approved" {
		t.Errorf("pending: verdict %+v", v)
	}
	h.mu.Lock()
	h.block = make(chan struct{}) // keep the fake engine from finishing
	h.mu.Unlock()
	defer close(h.block)
	if _, err := h.svc.Decide(context.Background(), a.ID, a.PlanHash, approval.Approve, approval.Actor{ID: alice}, approval.ViaSlack); err != nil {
		t.Fatal(err)
	}
	if v := check(p); !v.Allowed() {
		t.Errorf("approved, same plan: verdict %+v", v)
	}
	changed := plan(firing("fp1"), 1, map[string]any{"namespace": "shop", "name": "checkout", "token": "s3cr3t-token-value"})
	if v := check(changed); v.Reason != "plan_changed" {
		t.Errorf("approved, other parameters: verdict %+v", v)
	}
}

func TestPlanHash(t *testing.T) {
	base, err := approval.PlanHash("kubernetes.restart", map[string]any{"a": 1, "b": map[string]any{"y": "2", "x": true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		action string
		params map[string]any
		same   bool
	}{
		{"same content, other order", "kubernetes.restart", map[string]any{"b": map[string]any{"x": true, "y": "2"}, "a": 1}, true},
		{"other action", "kubernetes.scale", map[string]any{"a": 1, "b": map[string]any{"y": "2", "x": true}}, false},
		{"other value", "kubernetes.restart", map[string]any{"a": 2, "b": map[string]any{"y": "2", "x": true}}, false},
		{"other type", "kubernetes.restart", map[string]any{"a": "1", "b": map[string]any{"y": "2", "x": true}}, false},
		{"extra key", "kubernetes.restart", map[string]any{"a": 1, "b": map[string]any{"y": "2", "x": true}, "c": nil}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := approval.PlanHash(tt.action, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if (h == base) != tt.same || len(h) != 64 {
				t.Errorf("hash %s vs %s: same=%v, want %v", h, base, h == base, tt.same)
			}
		})
	}
}

func TestRefusalText(t *testing.T) {
	if got := approval.RefusalText(errors.Join(errors.New("x"), approval.ErrNotAllowed)); !strings.Contains(got, "not allowed") {
		t.Errorf("not allowed text = %q", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// A message Slack refused is posted again by the sweeper, not on every
// sweep but after RepostAfter; the approval can be decided meanwhile
// through the API.
func TestFailedPostIsRetried(t *testing.T) {
	h := newHarness(t, nil)
	h.slack.Fail("#approvals", "internal_error")
	var id string
	err := h.db.Update(context.Background(), func(tx state.Tx) error {
		var err error
		id, err = h.svc.Park(tx, plan(firing("fp1"), 1, cartParams()), nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Notify(context.Background(), id); err == nil {
		t.Fatal("Notify hid Slack's refusal")
	}
	if a := h.get(id); a.MessageID != "" || a.NotifyAttempts != 1 {
		t.Fatalf("after a failed post: ts %q attempts %d", a.MessageID, a.NotifyAttempts)
	}
	h.slack.Fail("#approvals", "")
	h.clock.Advance(30 * time.Second)
	if _, err := h.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.slack.Calls("chat.postMessage")); n != 0 {
		t.Fatalf("reposted before RepostAfter: %d posts", n)
	}
	h.clock.Advance(30 * time.Second)
	if _, err := h.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.slack.Calls("chat.postMessage")); n != 1 {
		t.Fatalf("posts after RepostAfter = %d, want 1", n)
	}
	if a := h.get(id); a.MessageID == "" {
		t.Error("the reposted message's ts was not kept")
	}
	if _, err := h.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.slack.Calls("chat.postMessage")); n != 1 {
		t.Errorf("posted again after success: %d", n)
	}
}
