package playbooks_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks"
)

// typicalRules are the shapes of rules SREs write; %d makes each distinct.
var typicalRules = []string{
	`event.source == "alertmanager" && event.status == "firing" && event.name == "Alert%d" && event.labels.namespace not in ["kube-system"]`,
	`event.source == "falco" && event.name == "Rule %d" && cidr(event.src_ip, "10.0.0.0/8") == false`,
	`event.source == "grafana" && event.name in ["Panel%d", "Panel%d-b"] && event.severity in ["critical", "high"]`,
	`event.source == "alertmanager" && event.name == "Alert%d" && label("team", "sre") == "sre" && regex(event.labels.pod, "^cart-")`,
	`event.source == "wazuh" && event.status == "firing" && fields["rule.level"] >= 10 && event.name == "Wazuh %d"`,
}

// untypedRules defeat the prefilter: no top-level equality on source/name.
var untypedRules = []string{
	`event.labels.alertname == "Alert%d" && event.status == "firing"`,
	`(event.source == "falco" || event.source == "x") && lower(event.name) == "rule %d"`,
}

func manyPlaybooks(b testing.TB, n int, rules []string) *playbooks.Set {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		rule := rules[i%len(rules)]
		args := make([]any, strings.Count(rule, "%d"))
		for j := range args {
			args[j] = i
		}
		fmt.Fprintf(&sb, "---\nname: p%d\nmatch: '%s'\nsteps:\n  - action: webhook.notify\n    with: {url: 'http://hooks.example/{{ event.labels.namespace }}'}\n",
			i, strings.ReplaceAll(fmt.Sprintf(rule, args...), "'", "''"))
	}
	set, err := playbooks.Parse(testRegistry(b), "bench.yaml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	return set
}

func benchEvent() *event.Event {
	ev := sampleEvent()
	ev.Name = "Alert500"
	ev.Labels["alertname"] = "Alert500"
	ev.Labels["pod"] = "cart-1"
	return ev
}

func matchAll(b *testing.B, set *playbooks.Set, indexed bool) {
	ev := benchEvent()
	b.ReportAllocs()
	b.ResetTimer()
	matched := 0
	for i := 0; i < b.N; i++ {
		ps := set.Playbooks
		if indexed {
			ps = set.Candidates(ev)
		}
		for _, p := range ps {
			ok, err := p.Matches(ev)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				matched++
			}
		}
	}
	if matched == 0 {
		b.Fatal("nothing matched")
	}
}

// BenchmarkMatch1000 matches one event against 1,000 playbooks with typical
// rules, as the engine does for every event: the index picks candidates by
// event name and source, then their rules run.
func BenchmarkMatch1000(b *testing.B) { matchAll(b, manyPlaybooks(b, 1000, typicalRules), true) }

// BenchmarkMatch1000Linear calls Matches on every playbook; each rejects the
// event by its prefilter or runs its rule.
func BenchmarkMatch1000Linear(b *testing.B) { matchAll(b, manyPlaybooks(b, 1000, typicalRules), false) }

// BenchmarkMatch1000NoPrefilter shows the cost of running every rule, for
// rules that give the prefilter nothing to work with.
func BenchmarkMatch1000NoPrefilter(b *testing.B) {
	matchAll(b, manyPlaybooks(b, 1000, untypedRules), true)
}

// TestCandidatesAgree checks that the index never drops a playbook that
// would match.
func TestCandidatesAgree(t *testing.T) {
	set := manyPlaybooks(t, 200, append(append([]string{}, typicalRules...), untypedRules...))
	names := []string{"Alert0", "Alert7", "Alert35", "Rule 1", "Panel2-b", "Wazuh 4", "rule 6", "nope"}
	sources := []string{"alertmanager", "falco", "grafana", "wazuh", "x"}
	for _, n := range names {
		for _, src := range sources {
			for _, st := range []string{"firing", "resolved"} {
				ev := benchEvent()
				ev.Name, ev.Source, ev.Status = n, src, st
				ev.Labels["alertname"] = n
				ev.Fields["rule.level"] = 12
				var want, got []string
				for _, p := range set.Playbooks {
					if ok, _ := p.Matches(ev); ok {
						want = append(want, p.Name)
					}
				}
				for _, p := range set.Candidates(ev) {
					if ok, _ := p.Matches(ev); ok {
						got = append(got, p.Name)
					}
				}
				if strings.Join(want, ",") != strings.Join(got, ",") {
					t.Errorf("%s/%s/%s: linear %v, indexed %v", src, n, st, want, got)
				}
			}
		}
	}
}

// BenchmarkRender renders a step with a URL template, a typed whole
// template, text templates and a nested body.
func BenchmarkRender(b *testing.B) {
	set, err := playbooks.Parse(testRegistry(b), "render.yaml", []byte(`
name: render
match: 'true'
steps:
  - action: webhook.notify
    with:
      url: "https://hooks.example/{{ event.labels.namespace }}/{{ event.labels.deployment }}"
      body:
        text: "{{ event.name }} in {{ event.labels.namespace }}: {{ event.annotations.summary }}"
        replicas: "{{ int(event.labels.replicas) + 1 }}"
        severity: "{{ upper(event.severity) }}"
        team: "{{ label('team', 'sre') }}"
        static: fixed
`))
	if err != nil {
		b.Fatal(err)
	}
	st := set.Playbooks[0].Steps[0]
	ev := sampleEvent()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := st.Render(ev); err != nil {
			b.Fatal(err)
		}
	}
}
