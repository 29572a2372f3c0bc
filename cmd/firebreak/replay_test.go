package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/replay"
	"github.com/firebreak/firebreak/store"
)

const replayCurrent = `
name: restart-crash
description: tell the sink about crash loops outside kube-system; page when critical
match: >
  event.source == "alertmanager" && event.status == "firing" && event.name == "KubePodCrashLooping"
  && event.labels.namespace not in ["kube-system"]
budget: ["10/1h"]
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%[1]s/crash"
      body: { pod: "{{ event.labels.pod }}", ns: "{{ event.labels.namespace }}" }
  - action: webhook.notify
    timeout: 5s
    when: 'event.severity == "critical"'
    with: { url: "%[1]s/page" }
---
name: latency
description: tell the sink about slow services
match: event.status == "firing" && event.name == "HighLatency"
steps:
  - action: webhook.notify
    timeout: 5s
    with: { url: "%[1]s/latency", body: { text: "slow {{ event.labels.service }}" } }
`

// replayCandidate changes the rule (kube-system is no longer excluded), a
// when condition (warnings page too) and a parameter template.
const replayCandidate = `
name: restart-crash
description: tell the sink about crash loops; page when critical or warning
match: >
  event.source == "alertmanager" && event.status == "firing" && event.name == "KubePodCrashLooping"
budget: ["10/1h"]
steps:
  - action: webhook.notify
    timeout: 5s
    with:
      url: "%[1]s/crash"
      body: { pod: "{{ event.labels.pod }}", ns: "{{ event.labels.namespace }}" }
  - action: webhook.notify
    timeout: 5s
    when: 'event.severity in ["critical", "warning"]'
    with: { url: "%[1]s/page" }
---
name: latency
description: tell the sink about slow services
match: event.status == "firing" && event.name == "HighLatency"
steps:
  - action: webhook.notify
    timeout: 5s
    with: { url: "%[1]s/latency", body: { text: "slow service {{ event.labels.service }}" } }
`

func replayAlert(name, ns, pod, severity, fp string) apptest.Alert {
	return apptest.Alert{Labels: map[string]string{"alertname": name, "namespace": ns, "pod": pod, "service": "cart", "severity": severity},
		StartsAt: time.Now().Add(-time.Minute), Fingerprint: fp}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// checkReplay asserts exactly the differences the candidate makes.
func checkReplay(t *testing.T, rep *replay.Report) {
	t.Helper()
	want := map[string][]string{
		"fp-1": nil,
		"fp-2": {`now matches playbook "restart-crash", which did not match then`},
		"fp-3": {`latency step 0 (webhook.notify): parameters change: body {"text":"slow cart"} → {"text":"slow service cart"}`},
		"fp-4": {`restart-crash step 1 (webhook.notify): was when_false, now planned`},
	}
	if len(rep.Events) != 4 {
		t.Fatalf("%d events replayed, want 4: %+v", len(rep.Events), rep.Events)
	}
	for _, e := range rep.Events {
		fp := strings.Split(e.EventID, ":")[1]
		if !e.Recorded {
			t.Errorf("%s: no recorded decision", e.EventID)
		}
		if !reflect.DeepEqual(e.Differences, want[fp]) {
			t.Errorf("%s differences:\n got %q\nwant %q", fp, e.Differences, want[fp])
		}
	}
	s := rep.Summary
	if s.Events != 4 || s.Changed != 3 || s.StepChanges != 1 || s.ParamChanges != 1 ||
		!reflect.DeepEqual(s.NewlyMatched, map[string]int{"restart-crash": 1}) || len(s.NoLongerMatched) != 0 {
		t.Errorf("summary = %+v", s)
	}
}

// postReplay replays the last hour through the server's API against
// candidate, or the running set when candidate is empty.
func postReplay(t *testing.T, baseURL, candidate string) replay.Report {
	t.Helper()
	req := app.ReplayRequest{Since: "1h"}
	if candidate != "" {
		req.Playbooks = map[string]string{"candidate.yaml": candidate}
	}
	body, _ := json.Marshal(req)
	code, out := apptest.PostAs(t, baseURL+"/api/v1/replay", apptest.OperatorToken, body)
	if code != http.StatusOK {
		t.Fatalf("POST /api/v1/replay = %d %s", code, out)
	}
	var rep replay.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestReplayShowsCandidateDifferencesAndChangesNothing(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(replayCurrent, sink.URL))
	apptest.WithOperator(&cfg) // replay is an operator endpoint
	t.Setenv("FIREBREAK_API_TOKEN", apptest.OperatorToken)
	candDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(candDir, "candidate.yaml"), []byte(fmt.Sprintf(replayCandidate, sink.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	a := apptest.Start(t, cfg, app.Options{})
	payload := apptest.AlertmanagerPayload("firing",
		replayAlert("KubePodCrashLooping", "shop", "a", "critical", "fp-1"),
		replayAlert("KubePodCrashLooping", "kube-system", "b", "warning", "fp-2"),
		replayAlert("HighLatency", "shop", "c", "warning", "fp-3"),
		replayAlert("KubePodCrashLooping", "shop", "d", "warning", "fp-4"))
	if code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", payload); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, body)
	}
	apptest.WaitFor(t, 10*time.Second, "4 events processed", func() bool { return a.Engine.Processed() == 4 })
	if n := len(sink.Requests()); n != 4 { // fp-1 twice, fp-3 and fp-4 once
		t.Fatalf("sink got %d requests, want 4", n)
	}

	t.Run("API while the server runs", func(t *testing.T) {
		before, err := a.DB.(*store.DB).Digest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rep := postReplay(t, a.URL(), fmt.Sprintf(replayCandidate, sink.URL))
		checkReplay(t, &rep)
		// The CLI reaches the same answer through the API while the server
		// holds the file.
		code2, cliOut, errOut := auditCLI(t, "replay", "--since", "1h", "--data-dir", cfg.DataDir, "--addr", a.Addr(), "--playbooks", candDir, "--json")
		if code2 != 0 {
			t.Fatalf("replay CLI exit %d: %s", code2, errOut)
		}
		var rep2 replay.Report
		if err := json.Unmarshal([]byte(cliOut), &rep2); err != nil {
			t.Fatal(err)
		}
		checkReplay(t, &rep2)
		// Against the running set nothing differs.
		if cur := postReplay(t, a.URL(), ""); cur.Summary.Changed != 0 {
			t.Errorf("replay against the current set changed %d decisions: %+v", cur.Summary.Changed, cur.Events)
		}
		after, err := a.DB.(*store.DB).Digest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if before != after {
			t.Error("replay changed the store's contents (inbox, state, breakers, budgets or audit)")
		}
		if n := len(sink.Requests()); n != 4 {
			t.Errorf("replay ran an action: the sink has %d requests, want 4", n)
		}
		code, out := apptest.PostAs(t, a.URL()+"/api/v1/replay", apptest.OperatorToken, []byte(`{"since":"1h","playbooks":{"bad.yaml":"name: x\nmatch: nope(\n"}}`))
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "bad.yaml") {
			t.Errorf("invalid candidate = %d %s, want 422 naming the file", code, out)
		}
	})

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("CLI on the closed file", func(t *testing.T) {
		before := fileSHA(t, cfg.DBPath())
		code, out, errOut := auditCLI(t, "replay", "--since", "1h", "--data-dir", cfg.DataDir, "--playbooks", candDir, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var rep replay.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		checkReplay(t, &rep)
		code, out, errOut = auditCLI(t, "replay", "--since", "1h", "--data-dir", cfg.DataDir, "--playbooks", candDir)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, w := range []string{
			"≠ now matches playbook \"restart-crash\", which did not match then",
			"4 event(s) replayed, 3 decision(s) differ",
			"+ restart-crash would now match 1 more event(s)",
			"~ 1 step(s) would run where they did not, or the reverse",
			"~ 1 step(s) would run with different parameters",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("text report lacks %q:\n%s", w, out)
			}
		}
		// Against the current playbooks (from a config file) nothing differs.
		conf := filepath.Join(t.TempDir(), "firebreak.yaml")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf("data_dir: %s\nplaybooks: [%s]\n", cfg.DataDir, cfg.Playbooks[0])), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut = auditCLI(t, "replay", "--since", "1h", "--config", conf)
		if code != 0 || !strings.Contains(out, "4 event(s) replayed, 0 decision(s) differ") {
			t.Errorf("replay against the current set: exit %d\n%s%s", code, out, errOut)
		}
		if after := fileSHA(t, cfg.DBPath()); after != before {
			t.Error("replay changed the database file")
		}
	})
}

const replayOnResolved = `
name: crash-and-clear
description: tell the sink about a crash loop, and again when it clears
match: event.source == "alertmanager" && event.status == "firing" && event.name == "KubePodCrashLooping"
steps:
  - action: webhook.notify
    timeout: 5s
    with: { url: "%[1]s/crash" }
on_resolved:
  - action: webhook.notify
    timeout: 5s
    with: { url: "%[1]s/%[2]s", body: { text: "{{ event.labels.pod }} cleared" } }
`

// Replay covers on_resolved: the steps the engine ran for a resolve are
// read back from the trail, the current set agrees with them, and a
// candidate that changes an on_resolved step shows the change on the
// resolve's event.
func TestReplayComparesOnResolvedSteps(t *testing.T) {
	sink := apptest.NewSink(t)
	cfg := apptest.Config(t, fmt.Sprintf(replayOnResolved, sink.URL, "cleared"))
	apptest.WithOperator(&cfg) // replay is an operator endpoint
	a := apptest.Start(t, cfg, app.Options{})
	alert := replayAlert("KubePodCrashLooping", "shop", "a", "critical", "fp-9")
	for i, status := range []string{"firing", "resolved"} {
		if code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", apptest.AlertmanagerPayload(status, alert)); code != http.StatusAccepted {
			t.Fatalf("POST %s = %d %s", status, code, body)
		}
		apptest.WaitFor(t, 10*time.Second, status+" processed", func() bool { return a.Engine.Processed() == uint64(i+1) })
	}
	if reqs := sink.Requests(); len(reqs) != 2 || reqs[1].Body["text"] != "a cleared" {
		t.Fatalf("sink requests = %+v, want the step then the on_resolved step", reqs)
	}
	before, err := a.DB.(*store.DB).Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rep := postReplay(t, a.URL(), "")
	if rep.Summary.Changed != 0 || len(rep.Events) != 2 {
		t.Fatalf("against the current set: %+v", rep)
	}
	then := rep.Events[1].Then.Steps
	if len(then) != 1 || then[0].Phase != replay.PhaseOnResolved || then[0].Decision != "ok" {
		t.Errorf("the resolve's recorded steps = %+v, want its on_resolved step, ok", then)
	}
	rep = postReplay(t, a.URL(), fmt.Sprintf(replayOnResolved, sink.URL, "all-clear"))
	want := fmt.Sprintf(`crash-and-clear on_resolved step 0 (webhook.notify): parameters change: url %q → %q`, sink.URL+"/cleared", sink.URL+"/all-clear")
	if got := rep.Events[1].Differences; len(got) != 1 || got[0] != want || rep.Summary.ParamChanges != 1 || len(rep.Events[0].Differences) != 0 {
		t.Errorf("differences = %q (summary %+v), want only %q on the resolve", got, rep.Summary, want)
	}
	after, err := a.DB.(*store.DB).Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if before != after || len(sink.Requests()) != 2 {
		t.Error("replay changed the store or ran an action")
	}
}
