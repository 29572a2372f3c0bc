package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/internal/fakeclock"
)

// routedClient sends every request to the sink whatever the URL's host,
// so playbooks can name one webhook target per workload.
func routedClient(sink *apptest.Sink) *http.Client {
	u, _ := url.Parse(sink.URL)
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, u.Host)
		},
		MaxIdleConnsPerHost: 64,
	}}
}

// postAll posts bodies from clients concurrent clients and fails on any
// answer but 202.
func postAll(t *testing.T, target string, clients int, bodies [][]byte) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				resp, err := hc.Post(target, "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { t.Errorf("POST %d: %v", i, err) })
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(b), `"accepted":1`) {
					failed.Add(1)
					firstErr.Do(func() { t.Errorf("POST %d = %d %s", i, resp.StatusCode, b) })
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d posts failed", n, len(bodies))
	}
}

func crashLooping(i int, deployment string, startsAt time.Time, status string) []byte {
	return apptest.AlertmanagerPayload(status, apptest.Alert{
		Labels:      map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": deployment, "severity": "critical"},
		StartsAt:    startsAt,
		Fingerprint: fmt.Sprintf("%016x", i),
	})
}

// checkEveryEventAudited asserts that each of the n accepted events has its
// received and matched records and exactly one decision for step 0.
func checkEveryEventAudited(t *testing.T, a *app.App, n int) map[string]int {
	t.Helper()
	var recs []audit.Record
	for cursor := uint64(0); ; {
		page, next, err := a.DB.ListAudit(context.Background(), audit.Query{After: cursor, Limit: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, page...)
		if next == 0 {
			break
		}
		cursor = next
	}
	type seen struct{ received, matched, decided int }
	per := map[string]*seen{}
	outcomes := map[string]int{}
	for _, r := range recs {
		if r.EventID == "" {
			continue
		}
		s := per[r.EventID]
		if s == nil {
			s = &seen{}
			per[r.EventID] = s
		}
		switch r.Kind {
		case audit.KindReceived:
			s.received++
		case audit.KindMatched:
			s.matched++
		case audit.KindStepStarted, audit.KindStepRefused, audit.KindStepDryRun:
			s.decided++
			outcomes[r.Outcome]++
		}
	}
	if len(per) != n {
		t.Fatalf("audit trail names %d events, want %d", len(per), n)
	}
	for id, s := range per {
		if s.received != 1 || s.matched != 1 || s.decided != 1 {
			t.Fatalf("event %s: received=%d matched=%d decisions=%d, want 1 each", id, s.received, s.matched, s.decided)
		}
	}
	if _, err := a.DB.VerifyAudit(context.Background()); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	return outcomes
}

func waitProcessed(t *testing.T, a *app.App, n int, timeout time.Duration) {
	t.Helper()
	apptest.WaitFor(t, timeout, fmt.Sprintf("%d events processed", n), func() bool {
		return a.Engine.Processed() >= uint64(n) && a.DB.PendingCount() == 0
	})
}

const stormPlaybook = `
name: storm
description: one run per workload, however loud the alert
match: event.status == "firing" && event.name == "KubePodCrashLooping"
dedupe: { key: 'event.labels.namespace + "/" + event.labels.deployment', window: 15m }
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%s/hook"
      body: { deployment: "{{ event.labels.deployment }}" }
`

// TestStormOneDedupeKey posts 10,000 distinct firing alerts (own
// fingerprint and start time) with one dedupe key from 32 clients: exactly
// one action runs, and every event has its audit records.
func TestStormOneDedupeKey(t *testing.T) {
	if testing.Short() {
		t.Skip("storm test")
	}
	const n, clients = 10_000, 32
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(stormPlaybook, sink.URL))
	cfg.Workers = 32
	// fsync is off: this test is about decisions, not durability, and
	// runs on shared CPUs.
	a := apptest.Start(t, cfg, app.Options{NoSync: true})
	now := time.Now()
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = crashLooping(i, "cart", now.Add(-time.Duration(i)*time.Millisecond), "firing")
	}
	start := time.Now()
	postAll(t, a.URL()+"/hooks/alertmanager", clients, bodies)
	posted := time.Since(start)
	waitProcessed(t, a, n, 3*time.Minute)
	t.Logf("%d alerts accepted in %s (%.0f/s), processed in %s", n, posted, float64(n)/posted.Seconds(), time.Since(start))

	if got := len(sink.Requests()); got != 1 {
		t.Fatalf("webhook runs = %d, want exactly 1", got)
	}
	outcomes := checkEveryEventAudited(t, a, n)
	if outcomes["started"] != 1 || outcomes[string(guard.ReasonDeduped)] != n-1 {
		t.Fatalf("decisions = %v, want 1 started and %d deduped", outcomes, n-1)
	}
	if got := len(auditRecords(t, a, audit.Query{Kind: audit.KindStepSucceeded})); got != 1 {
		t.Errorf("step.succeeded = %d, want 1", got)
	}
}

const targetsPlaybook = `
name: per-workload
match: event.status == "firing" && event.name == "KubePodCrashLooping"
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "http://{{ event.labels.deployment }}.workloads.test/restart"
      body: { deployment: "{{ event.labels.deployment }}" }
`

// TestStormDistinctTargetsGlobalCap posts 200 alerts on 200 targets with a
// global cap of 10 distinct targets per 10 minutes: exactly 10 runs and
// 190 budget_exhausted refusals.
func TestStormDistinctTargetsGlobalCap(t *testing.T) {
	const n = 200
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, targetsPlaybook)
	cfg.Guards.MaxTargets = "10/10m"
	a := apptest.Start(t, cfg, app.Options{HTTPClient: routedClient(sink)})
	now := time.Now()
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = crashLooping(i, fmt.Sprintf("w%03d", i), now, "firing")
	}
	postAll(t, a.URL()+"/hooks/alertmanager", 32, bodies)
	waitProcessed(t, a, n, time.Minute)

	if got := len(sink.Requests()); got != 10 {
		t.Fatalf("webhook runs = %d, want exactly 10", got)
	}
	outcomes := checkEveryEventAudited(t, a, n)
	if outcomes["started"] != 10 || outcomes[string(guard.ReasonBudgetExhausted)] != n-10 {
		t.Fatalf("decisions = %v, want 10 started and %d budget_exhausted", outcomes, n-10)
	}
	distinct := map[string]bool{}
	for _, r := range sink.Requests() {
		distinct[r.Body["deployment"].(string)] = true
	}
	if len(distinct) != 10 {
		t.Errorf("runs touched %d distinct workloads, want 10", len(distinct))
	}
}

const flapPlaybook = `
name: restart-flapping
match: event.name == "KubePodCrashLooping"
dedupe: { key: 'event.labels.deployment', window: 2m }
breaker: { failures: 3, window: 1h, cooldown: 1h, verify: 10m }
steps:
  - action: webhook.notify
    timeout: 5s
    when: event.status == "firing"
    with:
      url: "%s/restart"
      body: { deployment: "{{ event.labels.deployment }}" }
`

// TestFlappingWorkloadOpensBreaker fires, acts, resolves and fires again:
// after three runs that did not hold, the breaker opens, nothing more runs
// on the workload, and humans are told once.
func TestFlappingWorkloadOpensBreaker(t *testing.T) {
	actions, humans := apptest.NewSink(t), apptest.NewSink(t)
	clk := fakeclock.New(time.Now().UTC().Truncate(time.Second))
	cfg := apptest.Config(t, fmt.Sprintf(flapPlaybook, actions.URL))
	apptest.WithOperator(&cfg) // breaker reset is an operator endpoint
	cfg.Guards.Notify = &app.GuardNotifyConfig{Action: "webhook.notify", With: map[string]any{"url": humans.URL + "/oncall"}}
	a := apptest.Start(t, cfg, app.Options{Now: clk.Now})
	processed := 0
	post := func(status string, startsAt time.Time) {
		t.Helper()
		code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", crashLooping(7, "cart", startsAt, status))
		if code != http.StatusAccepted {
			t.Fatalf("POST = %d %s", code, body)
		}
		processed++
		waitProcessed(t, a, processed, 10*time.Second)
	}
	for cycle := range 6 {
		fired := clk.Now()
		post("firing", fired)
		clk.Advance(time.Minute)
		post("resolved", fired)
		clk.Advance(4 * time.Minute)
		if cycle == 3 {
			// The breaker opened on the fourth firing.
			if got := len(actions.Requests()); got != 3 {
				t.Fatalf("runs before the breaker opened = %d, want 3", got)
			}
		}
	}
	if got := len(actions.Requests()); got != 3 {
		t.Fatalf("runs = %d, want 3: the breaker must stop the flapping", got)
	}
	refused := auditRecords(t, a, audit.Query{Kind: audit.KindStepRefused})
	if len(refused) != 3 {
		t.Fatalf("refusals = %d, want 3", len(refused))
	}
	for _, r := range refused {
		if r.Outcome != string(guard.ReasonBreakerOpen) {
			t.Fatalf("refusal %s: %s, want breaker_open", r.Outcome, r.Message)
		}
	}
	apptest.WaitFor(t, 10*time.Second, "the on-call notification", func() bool { return len(humans.Requests()) >= 1 })
	time.Sleep(200 * time.Millisecond) // a second notification would arrive now
	hs := humans.Requests()
	if len(hs) != 1 {
		t.Fatalf("humans were told %d times, want once", len(hs))
	}
	if text, _ := hs[0].Body["text"].(string); !strings.Contains(text, "restart-flapping") || !strings.Contains(text, "did not clear") {
		t.Errorf("notification = %v", hs[0].Body)
	}
	if got := len(auditRecords(t, a, audit.Query{Kind: guard.KindBreakerOpened})); got != 1 {
		t.Errorf("breaker.opened records = %d, want 1", got)
	}

	// The API lists it; after a reset the workload is acted on again.
	var list struct {
		Breakers []guard.BreakerStatus `json:"breakers"`
	}
	getJSONAs(t, a.URL()+"/api/v1/breakers", apptest.OperatorToken, &list)
	if len(list.Breakers) != 1 || list.Breakers[0].State != guard.StateOpen || list.Breakers[0].Playbook != "restart-flapping" {
		t.Fatalf("breakers = %+v", list.Breakers)
	}
	code, body := apiPost(t, a.URL()+"/api/v1/breakers/"+list.Breakers[0].ID+"/reset", apptest.OperatorToken, "")
	if code != http.StatusOK {
		t.Fatalf("reset = %d %s", code, body)
	}
	post("firing", clk.Now())
	if got := len(actions.Requests()); got != 4 {
		t.Fatalf("runs after reset = %d, want 4", got)
	}
}

// getAs sends GET u with a bearer token (none when token is empty) and
// returns the status and body.
func getAs(t *testing.T, u, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// getJSONAs is getJSON with a bearer token (none when token is empty).
func getJSONAs(t *testing.T, u, token string, v any) {
	t.Helper()
	code, b := getAs(t, u, token)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", u, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func apiPost(t *testing.T, u, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Firebreak-Actor", "alice")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestKillSwitchAPI pauses through the API with a token: events are still
// accepted and audited as paused, nothing runs; resume lets the next run.
func TestKillSwitchAPI(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(stormPlaybook, sink.URL))
	cfg.API.Tokens = []app.APIToken{{Name: "ops", Role: "operator", Token: "s3cret-token-0123"}}
	a := apptest.Start(t, cfg, app.Options{})

	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "s3cret-token-0124", http.StatusUnauthorized},
		{"a prefix of the token", "s3cret-token", http.StatusUnauthorized},
		{"the token", "s3cret-token-0123", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := apiPost(t, a.URL()+"/api/v1/pause", tc.token, `{"reason": "incident 42"}`)
			if code != tc.want {
				t.Fatalf("pause = %d %s, want %d", code, body, tc.want)
			}
			if strings.Contains(body, "s3cret") {
				t.Fatalf("the answer echoes the token: %s", body)
			}
		})
	}
	var st guard.PauseStatus
	getJSONAs(t, a.URL()+"/api/v1/pause", "s3cret-token-0123", &st)
	if !st.Paused || st.Reason != "incident 42" || !strings.HasPrefix(st.By, "alice") {
		t.Fatalf("pause status = %+v", st)
	}
	now := time.Now()
	postAll(t, a.URL()+"/hooks/alertmanager", 4, [][]byte{crashLooping(1, "cart", now, "firing"), crashLooping(2, "api", now, "firing")})
	waitProcessed(t, a, 2, 10*time.Second)
	if got := len(sink.Requests()); got != 0 {
		t.Fatalf("runs while paused = %d", got)
	}
	if outcomes := checkEveryEventAudited(t, a, 2); outcomes[string(guard.ReasonPaused)] != 2 {
		t.Fatalf("decisions while paused = %v, want 2 paused", outcomes)
	}
	if code, body := apiPost(t, a.URL()+"/api/v1/resume", "s3cret-token-0123", ""); code != http.StatusOK {
		t.Fatalf("resume = %d %s", code, body)
	}
	postAll(t, a.URL()+"/hooks/alertmanager", 1, [][]byte{crashLooping(3, "cart", now, "firing")})
	waitProcessed(t, a, 3, 10*time.Second)
	if got := len(sink.Requests()); got != 1 {
		t.Fatalf("runs after resume = %d, want 1 (a paused event opens no dedupe window)", got)
	}
	if code, _ := apiPost(t, a.URL()+"/api/v1/breakers/0123456789abcdef/reset", "s3cret-token-0123", ""); code != http.StatusNotFound {
		t.Errorf("reset of an unknown breaker = %d, want 404", code)
	}
	if recs := auditRecords(t, a, audit.Query{Kind: guard.KindPaused}); len(recs) != 1 || !strings.HasPrefix(recs[0].Actor, "alice") {
		t.Errorf("pause audit = %+v", recs)
	}
}

// TestHoldWhilePausedRunsOnResume configures guards.on_pause: hold: a step
// the kill switch refuses is parked, not dropped, and runs once
// POST /api/v1/resume lifts the pause, without another event arriving.
// (Resume wakes the engine at once; its 5s poll would release the step
// too, so this test proves the hold, not the wake-up's latency.)
func TestHoldWhilePausedRunsOnResume(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(stormPlaybook, sink.URL))
	cfg.Guards.OnPause = "hold"
	cfg.API.Tokens = []app.APIToken{{Name: "ops", Role: "operator", Token: "s3cret-token-0123"}}
	a := apptest.Start(t, cfg, app.Options{})
	if code, body := apiPost(t, a.URL()+"/api/v1/pause", "s3cret-token-0123", `{"reason": "incident 43"}`); code != http.StatusOK {
		t.Fatalf("pause = %d %s", code, body)
	}
	postAll(t, a.URL()+"/hooks/alertmanager", 1, [][]byte{crashLooping(1, "cart", time.Now(), "firing")})
	waitProcessed(t, a, 1, 10*time.Second)
	if got := len(sink.Requests()); got != 0 {
		t.Fatalf("runs while paused = %d", got)
	}
	if code, body := apiPost(t, a.URL()+"/api/v1/resume", "s3cret-token-0123", ""); code != http.StatusOK {
		t.Fatalf("resume = %d %s", code, body)
	}
	apptest.WaitFor(t, 10*time.Second, "the held step runs after resume", func() bool { return len(sink.Requests()) == 1 })
}

func TestPausedByConfig(t *testing.T) {
	cfg := apptest.Config(t, fmt.Sprintf(stormPlaybook, "http://127.0.0.1:9"))
	cfg.Guards.Paused = true
	cfg.API.Tokens = []app.APIToken{{Name: "ops", Role: "operator", Token: "operator-token-0123456789"}}
	a := apptest.Start(t, cfg, app.Options{})
	code, body := apiPost(t, a.URL()+"/api/v1/resume", "operator-token-0123456789", "")
	if code != http.StatusConflict || !strings.Contains(body, "guards.paused") {
		t.Fatalf("resume = %d %s, want 409", code, body)
	}
}

// TestShadowModeThroughServer runs a storm through a shadow playbook: the
// plan and every guard's verdict are audited as "would have run" or "would
// be refused", nothing executes, and the live windows stay untouched.
func TestShadowModeThroughServer(t *testing.T) {
	sink := apptest.NewSink(t)
	shadow := strings.Replace(fmt.Sprintf(stormPlaybook, sink.URL), "name: storm", "name: storm\nmode: shadow", 1)
	cfg := apptest.Config(t, shadow)
	a := apptest.Start(t, cfg, app.Options{})
	now := time.Now()
	bodies := make([][]byte, 20)
	for i := range bodies {
		bodies[i] = crashLooping(i, "cart", now.Add(-time.Duration(i)*time.Second), "firing")
	}
	postAll(t, a.URL()+"/hooks/alertmanager", 8, bodies)
	waitProcessed(t, a, len(bodies), 30*time.Second)
	if got := len(sink.Requests()); got != 0 {
		t.Fatalf("shadow mode executed %d webhooks", got)
	}
	outcomes := checkEveryEventAudited(t, a, len(bodies))
	if outcomes["dry_run"] != 1 || outcomes[string(guard.ReasonDeduped)] != len(bodies)-1 {
		t.Fatalf("decisions = %v", outcomes)
	}
	dry := auditRecords(t, a, audit.Query{Kind: audit.KindStepDryRun})
	refused := auditRecords(t, a, audit.Query{Kind: audit.KindStepRefused})
	if len(dry) != 1 || !strings.HasPrefix(dry[0].Message, "would run (shadow mode)") {
		t.Fatalf("dry-run records = %+v, want one \"would run\"", dry)
	}
	if len(refused) != len(bodies)-1 || refused[0].Outcome != string(guard.ReasonDeduped) || !strings.HasPrefix(refused[0].Message, "would be refused (shadow mode): ") {
		t.Fatalf("refusals = %d, first %+v", len(refused), refused[0])
	}
}

func TestGuardsConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*app.GuardsConfig)
		want string
	}{
		// The guard API's token is api.tokens now (see TestAPITokenErrors).
		{"a bad cap", func(g *app.GuardsConfig) { g.MaxActions = "many/1m" }, "guards.max_actions"},
		{"a bad cidr", func(g *app.GuardsConfig) { g.Protected.CIDRs = []string{"10.0.0.0/33"} }, `protected cidr "10.0.0.0/33"`},
		{"bounds of an unknown action", func(g *app.GuardsConfig) {
			g.Bounds = map[string]map[string]app.BoundConfig{"kubernetes.explode": {"replicas": {}}}
		}, "guards.bounds"},
		{"a notifier without its url", func(g *app.GuardsConfig) {
			g.Notify = &app.GuardNotifyConfig{Action: "webhook.notify"}
		}, "guards.notify: webhook.notify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := apptest.Config(t, fmt.Sprintf(stormPlaybook, "http://127.0.0.1:9"))
			tc.edit(&cfg.Guards)
			a, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{})
			if err == nil {
				_ = a.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
