package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	eventpkg "github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
)

// Tokens of the tests, one of each role of api.tokens.
const (
	approverToken = "approver-token-0123456789abcdef"
	viewerToken   = "viewer-token-0123456789abcdef00"
	operatorToken = "operator-token-0123456789abcdef"
)

// apiTokens is the api.tokens table of the tests: victor views, alice
// approves, olga operates.
func apiTokens() []app.APIToken {
	return []app.APIToken{
		{Name: "alice", Token: approverToken, Role: "approver"},
		{Name: "victor", Token: viewerToken, Role: "viewer"},
		{Name: "olga", Token: operatorToken, Role: "operator"},
	}
}

// chromiumPath finds Debian's chromium (scripts/setup.d/50-chromium.sh);
// without it the test skips locally and fails under CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (run scripts/setup.d/50-chromium.sh); the browser tests must run under CI")
	}
	t.Skip("chromium is not installed: run scripts/setup.d/50-chromium.sh to run the dashboard's browser tests")
	return ""
}

// browser starts a headless Chromium for the test and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	// The timeout bounds the whole browser: it is bound to the context of
	// the first Do.
	tctx, cancelT := context.WithTimeout(context.Background(), 90*time.Second)
	actx, cancelA := chromedp.NewExecAllocator(tctx, opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA(); cancelT() })
	// Every browser test leaves a screenshot of what it saw.
	t.Cleanup(func() {
		if _, ok := screenshotsTaken.Load(t.Name()); !ok && !t.Failed() && !t.Skipped() {
			t.Error("the browser test saved no screenshot")
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(actx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		t.Logf("page %s:\n%s", loc, html)
		t.Fatalf("%s: %v", what, err)
	}
}

// screenshotsTaken holds the names of the tests that saved a screenshot.
var screenshotsTaken sync.Map

// screenshot saves the page in the test's temporary directory, and in
// $DASHBOARD_SCREENSHOTS when set (how docs/img was made).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	screenshotsTaken.Store(t.Name(), true)
	for _, dir := range []string{t.TempDir(), os.Getenv("DASHBOARD_SCREENSHOTS")} {
		if dir == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func login(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	run(t, ctx, "sign in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#live")),
	)
}

// js evaluates an expression in the page, awaiting a promise.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

const approvalPlaybook = `
name: restart-cart-with-approval
description: ask a human before telling the deploy bot to restart
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
approval: { expires: 30m }
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

// env is a running Firebreak with the three kinds of token and a capture
// receiver for webhook.notify.
type env struct {
	a    *app.App
	sink *apptest.Sink
}

func start(t *testing.T, playbook string) *env {
	t.Helper()
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(playbook, sink.URL))
	cfg.API.Tokens = apiTokens()
	cfg.Approvals.SweepInterval = app.Duration(50 * time.Millisecond)
	return &env{a: apptest.Start(t, cfg, app.Options{}), sink: sink}
}

func (e *env) fire(t *testing.T, fingerprint string) {
	t.Helper()
	body := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels:      map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "cart-api", "severity": "critical"},
		Annotations: map[string]string{"summary": "shop/cart-api has 1/3 available replicas"},
		StartsAt:    time.Now().Add(-2 * time.Minute).UTC(), Fingerprint: fingerprint,
	})
	if code, b := apptest.Post(t, e.a.URL()+"/hooks/alertmanager", body); code != 202 {
		t.Fatalf("POST alert: %d %s", code, b)
	}
}

func (e *env) pending(t *testing.T) approval.Approval {
	t.Helper()
	var list []approval.Approval
	apptest.WaitFor(t, 10*time.Second, "a pending approval", func() bool {
		var err error
		list, err = approval.List(context.Background(), e.a.DB, approval.Filter{PendingOnly: true})
		return err == nil && len(list) > 0
	})
	return list[0]
}

func (e *env) records(t *testing.T, q audit.Query) []audit.Record {
	t.Helper()
	q.Limit = 1000
	recs, _, err := e.a.DB.ListAudit(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Test 1: approve in the page; the step runs at the capture receiver and
// the timeline shows the decision and the result.
func TestBrowserApproveRunsStep(t *testing.T) {
	ctx := browser(t)
	e := start(t, approvalPlaybook)
	base := e.a.URL()
	login(t, ctx, base, approverToken)
	if n := js[int](t, ctx, `document.querySelectorAll("#live a[href^='/events/']").length`); n != 0 {
		t.Fatalf("the overview lists %d events before any arrived", n)
	}
	e.fire(t, "c0ffee01")
	ap := e.pending(t)
	// htmx refreshes the overview (every 5 s): the request shows up
	// without a reload.
	run(t, ctx, "live refresh", chromedp.WaitVisible(chromedp.CSS("#live a[href^='/events/']")))
	screenshot(t, ctx, "overview")
	run(t, ctx, "open approvals", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS("#approve-"+ap.ID)))
	if got := text(t, ctx, "#approval-"+ap.ID); !strings.Contains(got, "webhook.notify") || !strings.Contains(got, "cart-api") {
		t.Fatalf("approval card lacks the action or its parameters: %q", got)
	}
	screenshot(t, ctx, "approvals")
	if n := len(e.sink.Requests()); n != 0 {
		t.Fatalf("the step ran before anyone approved: %d calls", n)
	}
	run(t, ctx, "approve", chromedp.Click(chromedp.CSS("#approve-"+ap.ID)), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if got := text(t, ctx, "#flash"); !strings.Contains(got, "approved") {
		t.Fatalf("flash after approving: %q", got)
	}
	apptest.WaitFor(t, 10*time.Second, "the approved step to call the receiver", func() bool { return len(e.sink.Requests()) == 1 })
	if got := e.sink.Requests()[0].Body["deployment"]; got != "cart-api" {
		t.Fatalf("receiver got deployment %v", got)
	}
	apptest.WaitFor(t, 10*time.Second, "step.succeeded in the trail", func() bool {
		return len(e.records(t, audit.Query{EventID: ap.EventID, Kind: audit.KindStepSucceeded})) == 1
	})
	dec := e.records(t, audit.Query{EventID: ap.EventID, Kind: audit.KindApproval, Outcome: approval.OutcomeApproved})
	if len(dec) != 1 || dec[0].Actor != "api:alice" {
		t.Fatalf("approval decision records: %+v", dec)
	}

	run(t, ctx, "open the timeline", chromedp.Navigate(base+"/events/"+ap.EventID), chromedp.WaitVisible(chromedp.CSS("#timeline")),
		chromedp.WaitVisible(chromedp.CSS("#chain.good")))
	page := text(t, ctx, "main")
	for _, want := range []string{"decided by alice", "step.succeeded", "approved by api:alice via dashboard", "audit chain verified"} {
		if !strings.Contains(page, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	screenshot(t, ctx, "timeline")
}

// Test 2: a viewer sees no Approve button, and a POST forged with its own
// session and CSRF token is refused with 403.
func TestBrowserViewerCannotApprove(t *testing.T) {
	ctx := browser(t)
	e := start(t, approvalPlaybook)
	e.fire(t, "c0ffee02")
	ap := e.pending(t)
	base := e.a.URL()

	login(t, ctx, base, viewerToken)
	run(t, ctx, "open approvals", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS("#approval-"+ap.ID)))
	buttons := js[int](t, ctx, `document.querySelectorAll("button.approve, button.danger, #pause, #resume").length`)
	if buttons != 0 {
		t.Fatalf("the viewer sees %d decision or operator buttons", buttons)
	}
	screenshot(t, ctx, "approvals-viewer")
	forge := fmt.Sprintf(`fetch("/approvals/%s/approve", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "plan_hash=%s&csrf=" + encodeURIComponent(document.querySelector("input[name=csrf]").value)}).then(r => r.status)`, ap.ID, ap.PlanHash)
	status := js[int](t, ctx, forge)
	if status != 403 {
		t.Fatalf("forged approve as viewer: status %d, want 403", status)
	}
	status = js[int](t, ctx, `fetch("/pause", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "confirm=yes&csrf=" + encodeURIComponent(document.querySelector("input[name=csrf]").value)}).then(r => r.status)`)
	if status != 403 {
		t.Fatalf("forged pause as viewer: status %d, want 403", status)
	}
	if got, _ := approval.List(context.Background(), e.a.DB, approval.Filter{PendingOnly: true}); len(got) != 1 {
		t.Fatalf("the approval is no longer pending after a refused forgery")
	}
	if st, _ := e.a.Guard().PauseStatus(context.Background()); st.Paused {
		t.Fatal("a viewer paused execution")
	}
}

// Test 3: a POST without the CSRF token is refused, even from an approver.
func TestBrowserPostWithoutCSRFRefused(t *testing.T) {
	ctx := browser(t)
	e := start(t, approvalPlaybook)
	e.fire(t, "c0ffee03")
	ap := e.pending(t)
	base := e.a.URL()

	login(t, ctx, base, approverToken)
	run(t, ctx, "open approvals", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS("#approve-"+ap.ID)))
	for _, body := range []string{"plan_hash=" + ap.PlanHash, "plan_hash=" + ap.PlanHash + "&csrf=not-the-token"} {
		status := js[int](t, ctx, fmt.Sprintf(`fetch("/approvals/%s/approve", {method: "POST",
			headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: %q}).then(r => r.status)`, ap.ID, body))
		if status != 403 {
			t.Fatalf("POST %q: status %d, want 403", body, status)
		}
	}
	if got, _ := approval.List(context.Background(), e.a.DB, approval.Filter{PendingOnly: true}); len(got) != 1 {
		t.Fatal("a POST without a CSRF token decided the approval")
	}
	run(t, ctx, "reload approvals", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS("#approve-"+ap.ID)))
	screenshot(t, ctx, "approvals-still-pending")
	if n := len(e.sink.Requests()); n != 0 {
		t.Fatalf("the step ran: %d calls", n)
	}
}

// Test 7: the timeline of an Azure event, whose id contains slashes.
func TestBrowserAzureTimeline(t *testing.T) {
	ctx := browser(t)
	e := start(t, approvalPlaybook)
	body, err := os.ReadFile("testdata/azure-monitor-common-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	if code, b := apptest.Post(t, e.a.URL()+"/hooks/azure", body); code != 202 {
		t.Fatalf("POST azure: %d %s", code, b)
	}
	const id = "azure:/subscriptions/00000000-1111-2222-3333-444444444444/providers/Microsoft.AlertsManagement/alerts/6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d:firing"
	apptest.WaitFor(t, 10*time.Second, "the azure event in the trail", func() bool {
		return len(e.records(t, audit.Query{EventID: id, Kind: audit.KindUnmatched})) == 1
	})
	login(t, ctx, e.a.URL(), viewerToken)
	run(t, ctx, "open the timeline", chromedp.Navigate(e.a.URL()+"/events/"+id), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	if got := text(t, ctx, "#event-id"); got != id {
		t.Fatalf("timeline of %q shows %q", id, got)
	}
	screenshot(t, ctx, "timeline-azure")
	page := text(t, ctx, "main")
	for _, want := range []string{"Suspicious sign-ins from TOR exit nodes", string(audit.KindReceived), string(audit.KindUnmatched)} {
		if !strings.Contains(page, want) {
			t.Errorf("azure timeline lacks %q", want)
		}
	}
}

const autoPlaybook = `
name: notify-cart
description: tell the deploy bot, no approval
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
breaker: { failures: 1, window: 30m, cooldown: 1h }
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%s/notify"
      body: { deployment: "{{ event.labels.deployment }}" }
`

// Test 5: pause then resume from the page, each after a confirmation; an
// event arriving while paused is refused as paused.
func TestBrowserPauseResume(t *testing.T) {
	ctx := browser(t)
	e := start(t, autoPlaybook)
	base := e.a.URL()
	login(t, ctx, base, operatorToken)
	run(t, ctx, "pause", chromedp.SendKeys(chromedp.CSS("#pause-reason"), "incident 42"), chromedp.Click(chromedp.CSS("#pause")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")))
	if st, _ := e.a.Guard().PauseStatus(context.Background()); st.Paused {
		t.Fatal("paused before the confirmation")
	}
	run(t, ctx, "confirm pause", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#paused")))
	st, _ := e.a.Guard().PauseStatus(context.Background())
	if !st.Paused || st.Reason != "incident 42" || !strings.HasPrefix(st.By, "olga") {
		t.Fatalf("pause status %+v", st)
	}
	e.fire(t, "paused01")
	var id string
	apptest.WaitFor(t, 10*time.Second, "a paused refusal", func() bool {
		recs := e.records(t, audit.Query{Kind: audit.KindStepRefused, Outcome: string(guard.ReasonPaused)})
		if len(recs) == 1 {
			id = recs[0].EventID
		}
		return id != ""
	})
	if n := len(e.sink.Requests()); n != 0 {
		t.Fatalf("a step ran while paused: %d calls", n)
	}
	run(t, ctx, "timeline of the paused event", chromedp.Navigate(base+"/events/"+id), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	if page := text(t, ctx, "#timeline"); !strings.Contains(page, "step.refused") || !strings.Contains(page, "paused") {
		t.Fatalf("timeline does not show the paused refusal: %q", page)
	}
	screenshot(t, ctx, "timeline-paused")
	run(t, ctx, "resume", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#resume")), chromedp.Click(chromedp.CSS("#resume")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")), chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#running")))
	if st, _ := e.a.Guard().PauseStatus(context.Background()); st.Paused {
		t.Fatal("still paused after resuming")
	}
	if recs := e.records(t, audit.Query{Kind: guard.KindResumed}); len(recs) != 1 || !strings.HasPrefix(recs[0].Actor, "olga") {
		t.Fatalf("resume records: %+v", recs)
	}
}

const budgetedPlaybook = `
name: notify-cart
description: tell the deploy bot, no approval, at most 3 times an hour
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubeDeploymentReplicasMismatch"
budget: ["3/1h", "5/24h"]
breaker: { failures: 2, window: 30m, cooldown: 1h }
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%s/notify"
      body: { deployment: "{{ event.labels.deployment }}" }
`

// Test 4: two runs fail and open the breaker; /breakers shows it with its
// failures in the window, next trial and the budget left per window
// (3/1h with two runs: 1 of 3 left); a viewer has no Reset button, an
// operator resets it from the page and the audit says who.
func TestBrowserBreakerReset(t *testing.T) {
	ctx := browser(t)
	e := start(t, budgetedPlaybook)
	e.sink.Status = 500
	e.fire(t, "broken01")
	apptest.WaitFor(t, 10*time.Second, "the first run to fail", func() bool {
		return len(e.records(t, audit.Query{Kind: audit.KindStepFailed})) == 1
	})
	e.fire(t, "broken02")
	var bs []guard.BreakerStatus
	apptest.WaitFor(t, 10*time.Second, "the breaker to open", func() bool {
		bs, _ = e.a.Guard().Breakers(context.Background())
		return len(bs) == 1 && bs[0].State == guard.StateOpen
	})
	id := bs[0].ID
	base := e.a.URL()
	login(t, ctx, base, viewerToken)
	run(t, ctx, "breakers as viewer", chromedp.Navigate(base+"/breakers"), chromedp.WaitVisible(chromedp.CSS("#breaker-"+id)))
	n := js[int](t, ctx, `document.querySelectorAll("#breakers button").length`)
	if n != 0 {
		t.Fatalf("a viewer sees %d reset buttons", n)
	}
	row := text(t, ctx, "#breaker-"+id)
	for _, want := range []string{"open", "0 since it opened", bs[0].RetryAt.UTC().Format("2006-01-02 15:04:05Z"), "2 runs failed in the last 30m0s"} {
		if !strings.Contains(row, want) {
			t.Errorf("breaker row lacks %q: %q", want, row)
		}
	}
	for i, want := range []string{"1 of 3 left (3/1h, 2 used; next slot frees ", "3 of 5 left (5/24h, 2 used; next slot frees "} {
		if got := text(t, ctx, fmt.Sprintf("#budget-%s-%d", id, i)); !strings.Contains(got, want) {
			t.Errorf("budget window %d shows %q, want %q", i, got, want)
		}
	}
	run(t, ctx, "sign out", chromedp.Click(chromedp.CSS("button.link")), chromedp.WaitVisible(chromedp.CSS("#token")))
	login(t, ctx, base, operatorToken)
	if got := text(t, ctx, "#budgets"); !strings.Contains(got, "No playbook budget is used up") {
		t.Errorf("the overview's budgets: %q", got)
	}
	run(t, ctx, "reset", chromedp.Navigate(base+"/breakers"), chromedp.WaitVisible(chromedp.CSS("#reset-"+id)))
	screenshot(t, ctx, "breakers")
	run(t, ctx, "click reset", chromedp.Click(chromedp.CSS("#reset-"+id)), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if got := text(t, ctx, "#breaker-"+id); !strings.Contains(got, "closed") || !strings.Contains(got, "1 of 3 left") {
		t.Fatalf("breaker row after reset (closed, the budget not refunded): %q", got)
	}
	recs := e.records(t, audit.Query{Kind: guard.KindBreakerReset})
	if len(recs) != 1 || recs[0].Actor != "olga (dashboard)" {
		t.Fatalf("reset records: %+v", recs)
	}
}

// Test 6: the test box shows the decisions for a pasted Alertmanager
// payload; the store holds no new inbox entry or audit record afterwards.
func TestBrowserTestBoxWritesNothing(t *testing.T) {
	ctx := browser(t)
	e := start(t, approvalPlaybook)
	payload, err := os.ReadFile("testdata/alertmanager-firing-group.json")
	if err != nil {
		t.Fatal(err)
	}
	base := e.a.URL()
	login(t, ctx, base, viewerToken)
	run(t, ctx, "open playbooks", chromedp.Navigate(base+"/playbooks"), chromedp.WaitVisible(chromedp.CSS("#payload")))
	before := counts(t, e)
	run(t, ctx, "run the test box",
		chromedp.SetValue(chromedp.CSS("#payload"), string(payload)),
		chromedp.SetValue(chromedp.CSS("#source"), "alertmanager"),
		chromedp.Click(chromedp.CSS("#run-test")),
		chromedp.WaitVisible(chromedp.CSS("#test-result")))
	got := text(t, ctx, "#test-result")
	for _, want := range []string{"matches restart-cart-with-approval", "would wait for approval", "cart-api", "webhook.notify"} {
		if !strings.Contains(got, want) {
			t.Errorf("test box result lacks %q:\n%s", want, got)
		}
	}
	screenshot(t, ctx, "playbooks")
	if after := counts(t, e); after != before {
		t.Fatalf("the test box wrote: inbox/audit %v before, %v after", before, after)
	}
	if n := len(e.sink.Requests()); n != 0 {
		t.Fatalf("the test box executed a step: %d calls", n)
	}
}

// counts returns the number of inbox events and audit records.
func counts(t *testing.T, e *env) [2]int {
	t.Helper()
	var inbox int
	if err := e.a.DB.EventsSince(context.Background(), 0, func(uint64, eventpkg.Event) error { inbox++; return nil }); err != nil {
		t.Fatal(err)
	}
	n, err := e.a.DB.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return [2]int{inbox, n}
}
