package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
)

// Two playbooks with a breaker each: brk-open calls a receiver that
// fails, brk-trial one that fails once and then holds its call (the
// half-open trial stays in progress).
const twoBreakersPlaybooks = `
name: brk-open
match: event.source == "alertmanager" && event.name == "OpenMe"
breaker: { failures: 1, window: 30m, cooldown: 1h }
steps:
  - action: webhook.notify
    timeout: 30s
    with: { url: "%[1]s/open", body: { n: "{{ event.labels.n }}" } }
---
name: brk-trial
match: event.source == "alertmanager" && event.name == "TrialMe"
breaker: { failures: 1, window: 30m, cooldown: 1m }
steps:
  - action: webhook.notify
    timeout: 30s
    with: { url: "%[2]s/trial", body: { n: "{{ event.labels.n }}" } }
`

// The overview page itself (not only /breakers) lists an open and a
// half-open breaker, each with its state and playbook.
func TestOverviewShowsOpenAndHalfOpenBreakers(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	trial := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		select { // the trial: held until the test ends
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(trial.Close)

	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	cfg := apptest.Config(t, fmt.Sprintf(twoBreakersPlaybooks, failing.URL, trial.URL))
	cfg.API.Tokens = apiTokens()
	a := apptest.Start(t, cfg, app.Options{Now: clk.Now})
	t.Cleanup(func() { close(release) }) // runs before the app closes
	post := func(name, n string) {
		t.Helper()
		body := apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": name, "n": n},
			StartsAt: clk.Now().Add(-time.Minute), Fingerprint: name + n})
		if code, b := apptest.Post(t, a.URL()+"/hooks/alertmanager", body); code != http.StatusAccepted {
			t.Fatalf("POST %s: %d %s", name, code, b)
		}
	}
	states := func() map[string]string {
		bs, err := a.Guard().Breakers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, b := range bs {
			out[b.Playbook] = b.State
		}
		return out
	}
	post("OpenMe", "1")
	post("TrialMe", "1")
	apptest.WaitFor(t, 10*time.Second, "both breakers to open", func() bool {
		s := states()
		return s["brk-open"] == guard.StateOpen && s["brk-trial"] == guard.StateOpen
	})
	clk.Advance(2 * time.Minute) // past brk-trial's cooldown, not brk-open's
	post("TrialMe", "2")
	apptest.WaitFor(t, 10*time.Second, "brk-trial's breaker to be half-open", func() bool {
		return states()["brk-trial"] == guard.StateHalfOpen
	})
	if s := states(); s["brk-open"] != guard.StateOpen {
		t.Fatalf("breakers: %v", s)
	}

	c := newClient(t, a.URL())
	c.signIn(viewerToken)
	resp, page := c.do("GET", "/", nil, "text/html")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	m := regexp.MustCompile(`(?s)<h2>Open breakers</h2>(.*?)</table>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the overview has no breaker table:\n%s", page)
	}
	var rows []string
	for _, r := range regexp.MustCompile(`(?s)<tr>(.*?)</tr>`).FindAllStringSubmatch(m[1], -1) {
		rows = append(rows, strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(r[1], " ")), " "))
	}
	want := map[string]bool{"open brk-open": false, "half_open brk-trial": false}
	for _, r := range rows {
		for w := range want {
			if strings.HasPrefix(r, w+" ") {
				want[w] = true
			}
		}
	}
	for w, found := range want {
		if !found {
			t.Errorf("the overview's breaker table lacks a row %q: %q", w, rows)
		}
	}
}

const sawPlaybook = `
name: saw-values
match: event.source == "alertmanager" && event.labels.namespace == "shop" && event.labels.deployment != ""
steps:
  - action: webhook.notify
    timeout: 5s
    with: { url: "%s/saw", body: { deployment: "{{ event.labels.deployment }}" } }
`

// The timeline shows, for each playbook that matched, the values its rule
// saw (data.saw of the playbook.matched record).
func TestTimelineShowsRuleValues(t *testing.T) {
	e := start(t, sawPlaybook)
	e.fire(t, "5a5a5a5a")
	var matched []audit.Record
	apptest.WaitFor(t, 10*time.Second, "the match", func() bool {
		matched = e.records(t, audit.Query{Kind: audit.KindMatched})
		return len(matched) == 1
	})
	c := newClient(t, e.a.URL())
	c.signIn(viewerToken)
	resp, page := c.do("GET", "/events/"+matched[0].EventID, nil, "text/html")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("timeline: %d", resp.StatusCode)
	}
	row := regexp.MustCompile(`(?s)<tr class="k-playbook\.matched">(.*?)</tr>`).FindStringSubmatch(page)
	if row == nil {
		t.Fatalf("no playbook.matched row in the timeline:\n%s", page)
	}
	if !strings.Contains(row[1], "saw-values") {
		t.Fatalf("the matched row does not name the playbook: %s", row[1])
	}
	pre := regexp.MustCompile(`(?s)<pre>(.*?)</pre>`).FindStringSubmatch(row[1])
	if pre == nil {
		t.Fatalf("the matched row shows no data: %s", row[1])
	}
	var data struct {
		Rule string
		Saw  map[string]any
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(pre[1])), &data); err != nil {
		t.Fatalf("the matched row's data is not the record's JSON: %v\n%s", err, pre[1])
	}
	want := map[string]any{"event.source": "alertmanager", "event.labels.namespace": "shop", "event.labels.deployment": "cart-api"}
	if !reflect.DeepEqual(data.Saw, want) || !strings.Contains(data.Rule, `event.labels.namespace == "shop"`) {
		t.Fatalf("the timeline shows rule %q saw %v, want saw %v", data.Rule, data.Saw, want)
	}
}
