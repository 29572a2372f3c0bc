package playtest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/playbooks/playtest"
)

// recorder is an action that fails the test if it ever runs.
type recorder struct{ t *testing.T }

func (recorder) Spec() actions.Spec {
	return actions.Spec{ID: "demo.restart", Params: []actions.Param{
		{Name: "namespace", Type: actions.String, Required: true},
		{Name: "name", Type: actions.String, Required: true},
		{Name: "replicas", Type: actions.Int, Min: actions.IntPtr(1)},
	}}
}
func (r recorder) Validate(p map[string]any, final bool) error {
	return actions.CheckParams(r.Spec(), p, final)
}
func (recorder) Target(p map[string]any) actions.Target {
	return actions.Target{Kind: "Deployment", Namespace: actions.StringParam(p, "namespace", ""), Name: actions.StringParam(p, "name", "")}
}
func (r recorder) Run(context.Context, actions.Request) (actions.Result, error) {
	r.t.Error("an action ran during an offline test")
	return actions.Result{}, nil
}

func registry(t *testing.T) *actions.Registry {
	r := actions.NewRegistry()
	if err := r.Register(webhook.New(webhook.Config{})); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(recorder{t}); err != nil {
		t.Fatal(err)
	}
	return r
}

const book = `
name: restart
match: event.source == "am" && event.name == "CrashLoop"
steps:
  - action: demo.restart
    with: {namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}", replicas: "{{ int(event.labels.want) }}"}
  - action: webhook.notify
    when: event.severity == "critical"
    with: {url: "http://hooks.example/page"}
  - action: webhook.notify
    with: {url: "http://hooks.example/{{ event.labels.namespace }}"}
on_resolved:
  - action: webhook.notify
    with: {url: "http://hooks.example/resolved", body: {fp: "{{ event.fingerprint }}"}}
---
name: shadowed
mode: shadow
match: event.name == "CrashLoop"
steps:
  - action: webhook.notify
    approval: required
    with: {url: "http://hooks.example/shadow"}
---
name: approve
mode: approve
match: event.name == "CrashLoop" && event.labels.namespace == "prod"
dedupe: {key: 'event.labels.namespace + "/" + event.labels.deployment', window: 1h}
steps:
  - action: demo.restart
    continue_on_error: true
    with: {namespace: prod, name: "{{ event.labels.deployment }}", replicas: "{{ int(event.labels.want) }}"}
  - action: webhook.notify
    with: {url: "http://hooks.example/x"}
`

func TestEvaluate(t *testing.T) {
	reg := registry(t)
	set, err := playbooks.Parse(reg, "book.yaml", []byte(book))
	if err != nil {
		t.Fatal(err)
	}
	evs := []event.Event{
		{ID: "1", Source: "am", Name: "CrashLoop", Status: "firing", Severity: "warning", Fingerprint: "f1", Labels: map[string]string{"namespace": "shop", "deployment": "cart", "want": "2"}},
		{ID: "2", Source: "am", Name: "CrashLoop", Status: "firing", Severity: "critical", Labels: map[string]string{"namespace": "prod", "deployment": "api", "want": "0"}},
		{ID: "3", Source: "am", Name: "CrashLoop", Status: "resolved", Fingerprint: "f1", Labels: map[string]string{"namespace": "shop", "deployment": "cart", "want": "2"}},
		{ID: "4", Source: "am", Name: "Other", Status: "resolved", Fingerprint: "f1"},
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(playtest.Evaluate(set, reg, evs)); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	want := `- matched:
    - playbook: restart
      steps:
        - action: demo.restart
          params:
            name: cart
            namespace: shop
            replicas: 2
          target: Deployment/shop/cart
        - action: webhook.notify
          skipped: when_false
        - action: webhook.notify
          params:
            url: http://hooks.example/shop
          target: webhook/hooks.example
    - playbook: shadowed
      steps:
        - action: webhook.notify
          params:
            url: http://hooks.example/shadow
          target: webhook/hooks.example
          dry_run: shadow mode
- matched:
    - playbook: restart
      steps:
        - action: demo.restart
          error: 'invalid_params: with.replicas: must be at least 1'
    - playbook: shadowed
      steps:
        - action: webhook.notify
          params:
            url: http://hooks.example/shadow
          target: webhook/hooks.example
          dry_run: shadow mode
    - playbook: approve
      dedupe_key: prod/api
      steps:
        - action: demo.restart
          error: 'invalid_params: with.replicas: must be at least 1'
        - action: webhook.notify
          params:
            url: http://hooks.example/x
          target: webhook/hooks.example
          approval: required
- matched:
    - playbook: restart
      steps:
        - action: demo.restart
          params:
            name: cart
            namespace: shop
            replicas: 2
          target: Deployment/shop/cart
        - action: webhook.notify
          skipped: when_false
        - action: webhook.notify
          params:
            url: http://hooks.example/shop
          target: webhook/hooks.example
    - playbook: shadowed
      steps:
        - action: webhook.notify
          params:
            url: http://hooks.example/shadow
          target: webhook/hooks.example
          dry_run: shadow mode
  on_resolved:
    - playbook: restart
      steps:
        - action: webhook.notify
          params:
            body:
              fp: f1
            url: http://hooks.example/resolved
          target: webhook/hooks.example
- matched: []
`
	if got != want {
		t.Errorf("decisions:\n%s\nwant:\n%s", got, want)
	}
}

type fakeDecoder struct{}

func (fakeDecoder) Decode(body []byte, now time.Time) ([]event.Event, error) {
	var m map[string]string
	if err := yaml.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	return []event.Event{{ID: "fake", Source: "am", Name: m["name"], Status: "firing", ReceivedAt: now,
		Labels: map[string]string{"namespace": m["ns"], "deployment": "d", "want": "1"}}}, nil
}

func writeFiles(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"pb/book.yaml":    book,
		"payloads/p.json": `{"name": "CrashLoop", "ns": "shop"}`,
		"pass.test.yaml": `
playbooks: [pb]
tests:
  - name: from a payload file, steps not compared
    input: {source: fake, file: payloads/p.json}
    expect:
      - matched: [{playbook: restart}, {playbook: shadowed}]
  - name: inline payload, exact steps
    input: {source: fake, payload: {name: CrashLoop, ns: x}}
    expect:
      - matched:
          - playbook: restart
            steps:
              - {action: demo.restart, params: {name: d, namespace: x, replicas: 1}}
              - {action: webhook.notify, skipped: when_false}
              - {action: webhook.notify, params: {url: "http://hooks.example/x"}, target: webhook/hooks.example}
          - playbook: shadowed
`,
		"fail.test.yaml": `
playbooks: [pb]
tests:
  - name: wrong parameter
    input: {events: [{source: am, name: CrashLoop, labels: {namespace: shop, deployment: d, want: "3"}}]}
    expect:
      - matched:
          - playbook: restart
            steps:
              - {action: demo.restart, params: {name: d, namespace: shop, replicas: 4}}
          - playbook: shadowed
  - name: no expectation prints the decisions
    input: {events: [{source: am, name: Nothing}]}
  - name: unknown source
    input: {source: nope, payload: {}}
    expect: [{matched: []}]
`,
		"broken.test.yaml": "playbooks: [pb]\ntests:\n  - name: x\n    inputs: {}\n",
	})
	opts := playtest.Options{Catalog: registry(t), Decoders: map[string]playtest.Decoder{"fake": fakeDecoder{}}}

	rep, err := playtest.RunFile(filepath.Join(dir, "pass.test.yaml"), opts)
	if err != nil || rep.Failed() != 0 || len(rep.Results) != 2 {
		t.Fatalf("pass: %v %+v", err, rep)
	}

	rep, err = playtest.RunFile(filepath.Join(dir, "fail.test.yaml"), opts)
	if err != nil || rep.Failed() != 3 {
		t.Fatalf("fail: %v %+v", err, rep)
	}
	diff := rep.Results[0].Diff
	for _, want := range []string{"event 0 (CrashLoop firing, id test-0): (- expected, + actual)", "-           replicas: 4", "+           replicas: 3", "+       - action: webhook.notify"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if d := rep.Results[1].Diff; !strings.Contains(d, "no expect: given; the decisions are:\n  - matched: []") {
		t.Errorf("no-expect diff:\n%s", d)
	}
	if err := rep.Results[2].Err; err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown source: %v", err)
	}

	if _, err := playtest.RunFile(filepath.Join(dir, "broken.test.yaml"), opts); err == nil || !strings.Contains(err.Error(), "field inputs not found") {
		t.Errorf("broken test file: %v", err)
	}
}
