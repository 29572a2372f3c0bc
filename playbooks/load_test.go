package playbooks_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks"
)

func sampleEvent() *event.Event {
	return &event.Event{
		ID: "e1", Source: "alertmanager", Status: "firing", Name: "KubePodCrashLooping", Severity: "critical",
		Fingerprint: "fp1",
		Labels:      map[string]string{"namespace": "shop", "deployment": "cart", "replicas": "3"},
		Annotations: map[string]string{"summary": "cart is crash-looping"},
		Fields:      map[string]any{"k8s.ns.name": "shop", "count": 4, "proc": map[string]any{"name": "sh"}},
		SrcIP:       "10.1.2.3",
		StartsAt:    time.Date(2026, 1, 1, 11, 50, 0, 0, time.UTC),
	}
}

func mustParse(t *testing.T, yml string) *playbooks.Set {
	t.Helper()
	set, err := playbooks.Parse(testRegistry(t), "test.yaml", []byte(yml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	set.SetClock(func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) })
	return set
}

func TestMatchHelpers(t *testing.T) {
	tests := []struct {
		rule string
		want bool
	}{
		{`event.source == "alertmanager" && event.status == "firing"`, true},
		{`event.source == "falco"`, false},
		{`"alertmanager" == event.source && event.name in ["A", "KubePodCrashLooping"]`, true},
		{`event.name in ["A", "B"]`, false},
		{`cidr(event.src_ip, "10.0.0.0/8")`, true},
		{`cidr(event.src_ip, "192.168.0.0/16", "10.1.0.0/16")`, true},
		{`cidr(event.src_ip, "192.168.0.0/16")`, false},
		{`cidr(event.host, "0.0.0.0/0")`, false}, // empty address
		{`regex(event.name, "^Kube.*Loop")`, true},
		{`regex(event.name, "^Node")`, false},
		{`label("namespace") == "shop"`, true},
		{`label("team", "sre") == "sre"`, true},
		{`label("team") == ""`, true},
		{`annotation("summary", "x") == "cart is crash-looping"`, true},
		{`fields["k8s.ns.name"] == "shop"`, true},
		{`field("k8s.ns.name") == "shop"`, true},
		{`field("missing", "d") == "d"`, true},
		{`field("count") == 4`, true},
		{`fields.proc.name == "sh"`, true},
		{`labels.namespace == event.labels.namespace`, true},
		{`coalesce(event.labels.team, event.labels.namespace) == "shop"`, true},
		{`lower(event.severity) == "critical" && upper("a") == "A"`, true},
		{`since(event.starts_at) == duration("10m")`, true},
		{`now().Year() == 2026`, true},
		{`now() - event.starts_at > duration("5m")`, true},
		{`int(event.labels.replicas) + 1 == 4`, true},
		{`"namespace" in event.labels && !("team" in event.labels)`, true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			set := mustParse(t, "name: p\nmatch: '"+strings.ReplaceAll(tt.rule, "'", "''")+"'\nsteps: [{action: webhook.notify, with: {url: 'http://x'}}]\n")
			got, err := set.Playbooks[0].Matches(sampleEvent())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRenderKeepsTypes(t *testing.T) {
	set := mustParse(t, `
name: p
match: 'true'
steps:
  - action: webhook.notify
    with:
      url: "http://hooks.example/{{ event.labels.namespace }}"
      body:
        replicas: "{{ int(event.labels.replicas) + 1 }}"
        ratio: "{{ 1.5 }}"
        firing: "{{ event.status == 'firing' }}"
        labels: "{{ event.labels }}"
        text: "{{ event.name }} has {{ int(event.labels.replicas) }} replicas"
        literal: 7
        list: ["{{ event.labels.deployment }}", 2, "x"]
        missing: "{{ label('nope', 'none') }}"
        padded: "  {{ 3 }}  "
`)
	got, err := set.Playbooks[0].Steps[0].Render(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"url": "http://hooks.example/shop",
		"body": map[string]any{
			"replicas": 4,
			"ratio":    1.5,
			"firing":   true,
			"labels":   map[string]string{"namespace": "shop", "deployment": "cart", "replicas": "3"},
			"text":     "KubePodCrashLooping has 3 replicas",
			"literal":  7,
			"list":     []any{"cart", 2, "x"},
			"missing":  "none",
			"padded":   "  3  ",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Render =\n%#v\nwant\n%#v", got, want)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	set := mustParse(t, `
name: base
match: &rule 'event.source == "alertmanager"'
steps:
  - &notify
    action: webhook.notify
    timeout: 5s
    with: &with
      url: "http://hooks.example/a"
      body: {ns: "{{ event.labels.namespace }}"}
---
name: derived
match: *rule
steps:
  - *notify
  - <<: *notify
    timeout: 9s
    with:
      <<: *with
      url: "http://hooks.example/b"
`)
	d, ok := set.Get("derived")
	if !ok {
		t.Fatal("derived not loaded")
	}
	if d.Match != `event.source == "alertmanager"` {
		t.Errorf("aliased match = %q", d.Match)
	}
	if len(d.Steps) != 2 || d.Steps[0].Timeout != 5*time.Second || d.Steps[1].Timeout != 9*time.Second {
		t.Fatalf("steps = %+v", d.Steps)
	}
	got, err := d.Steps[1].Render(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"url": "http://hooks.example/b", "body": map[string]any{"ns": "shop"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged with = %#v, want %#v", got, want)
	}
	b, _ := set.Get("base")
	if b.Hash == d.Hash || b.Hash == "" {
		t.Errorf("hashes: base %q derived %q", b.Hash, d.Hash)
	}
}

func TestNodeLimit(t *testing.T) {
	rule := strings.Repeat(`event.name == "x" || `, playbooks.MaxNodes/3) + "true"
	_, err := playbooks.Parse(testRegistry(t), "big.yaml", []byte("name: big\nmatch: '"+strings.ReplaceAll(rule, "'", "''")+"'\nsteps: [{action: webhook.notify, with: {url: 'http://x'}}]\n"))
	var ps playbooks.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].Msg, "exceeds maximum allowed nodes") {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, playbooks.ErrInvalid) {
		t.Error("Problems must wrap ErrInvalid")
	}
}

func TestWhenAndDedupe(t *testing.T) {
	set := mustParse(t, `
name: p
match: 'true'
dedupe: {key: 'event.labels.namespace + "/" + event.labels.deployment', window: 15m}
steps:
  - action: webhook.notify
    when: event.severity == "critical"
    with: {url: "http://x"}
  - action: webhook.notify
    when: event.severity == "info"
    with: {url: "http://x"}
`)
	p := set.Playbooks[0]
	ev := sampleEvent()
	if k, err := p.DedupeKey(ev); err != nil || k != "shop/cart" {
		t.Errorf("DedupeKey = %q, %v", k, err)
	}
	for i, want := range []bool{true, false} {
		if got, err := p.Steps[i].ShouldRun(ev); err != nil || got != want {
			t.Errorf("steps[%d].ShouldRun = %v, %v; want %v", i, got, err, want)
		}
	}
}

func TestApprovalRequester(t *testing.T) {
	set := mustParse(t, `
name: by-label
match: 'true'
approval: {approvers: 2, requester: event.labels.requested_by}
steps:
  - action: webhook.notify
    with: {url: "http://x"}
---
name: by-field
match: 'true'
approval: {requester: 'event.fields["chatops.user"]'}
steps:
  - action: webhook.notify
    with: {url: "http://x"}
---
name: unnamed
match: 'true'
steps:
  - action: webhook.notify
    with: {url: "http://x"}
`)
	byLabel, byField, unnamed := set.Playbooks[0], set.Playbooks[1], set.Playbooks[2]
	if byLabel.Approval == nil || byLabel.Approval.Approvers != 2 || byLabel.Approval.Requester != "event.labels.requested_by" {
		t.Fatalf("approval = %+v", byLabel.Approval)
	}
	ev := sampleEvent()
	for _, p := range []*playbooks.Playbook{byLabel, byField, unnamed} {
		if who, err := p.RequestedBy(ev); err != nil || who != "" {
			t.Errorf("%s: RequestedBy of an event without a requester = %q, %v; want nobody", p.Name, who, err)
		}
	}
	ev.Labels["requested_by"] = "U0ALICE"
	ev.Fields["chatops.user"] = "U0BOB"
	for p, want := range map[*playbooks.Playbook]string{byLabel: "U0ALICE", byField: "U0BOB", unnamed: ""} {
		if who, err := p.RequestedBy(ev); err != nil || who != want {
			t.Errorf("%s: RequestedBy = %q, %v; want %q", p.Name, who, err, want)
		}
	}
}

// TestPrefilterAgrees checks that the prefilter never changes a verdict:
// every rule gives the same answer as an equivalent rule it cannot see through.
func TestPrefilterAgrees(t *testing.T) {
	rules := []string{
		`event.source == "alertmanager" && event.name == "KubePodCrashLooping"`,
		`event.source == "falco" && event.name == "KubePodCrashLooping"`,
		`event.status == "resolved" and event.source == "alertmanager"`,
		`event.name in ["X", "KubePodCrashLooping"] && event.name == "KubePodCrashLooping"`,
		`event.name in ["X"] && event.name == "KubePodCrashLooping"`,
		`event.source == "falco" || event.name == "KubePodCrashLooping"`,
		`!(event.source == "falco")`,
	}
	for _, r := range rules {
		t.Run(r, func(t *testing.T) {
			a := mustParse(t, "name: a\nmatch: '"+strings.ReplaceAll(r, "'", "''")+"'\nsteps: [{action: webhook.notify, with: {url: 'http://x'}}]\n")
			b := mustParse(t, "name: b\nmatch: 'true == (("+strings.ReplaceAll(r, "'", "''")+"))'\nsteps: [{action: webhook.notify, with: {url: 'http://x'}}]\n")
			for _, ev := range []*event.Event{sampleEvent(), {Source: "falco", Name: "X", Status: "resolved"}} {
				x, err1 := a.Playbooks[0].Matches(ev)
				y, err2 := b.Playbooks[0].Matches(ev)
				if x != y || err1 != nil || err2 != nil {
					t.Errorf("%+v: prefiltered %v (%v), plain %v (%v)", ev.Name, x, err1, y, err2)
				}
			}
		})
	}
}

func TestAliasBomb(t *testing.T) {
	yml := "name: bomb\nmatch: 'true'\nsteps:\n  - action: webhook.notify\n    with:\n      url: http://x\n      body:\n        a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i <= 8; i++ {
		yml += fmt.Sprintf("        a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	start := time.Now()
	_, err := playbooks.Parse(testRegistry(t), "bomb.yaml", []byte(yml))
	if err == nil || !strings.Contains(err.Error(), "expands to more than 100000 YAML nodes") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}
