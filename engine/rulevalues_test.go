package engine

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

func TestRuleValues(t *testing.T) {
	ev := &event.Event{Source: "alertmanager", Name: "KubePodCrashLooping", Status: "firing",
		Labels: map[string]string{"namespace": "shop", "app.kubernetes.io/name": "cart"}, SrcIP: "10.1.2.3"}
	tests := []struct {
		rule string
		want map[string]any
	}{
		{`event.source == "alertmanager" && event.labels.namespace not in ["kube-system"]`,
			map[string]any{"event.source": "alertmanager", "event.labels.namespace": "shop"}},
		{`event.labels["app.kubernetes.io/name"] == "cart" && cidr(event.src_ip, "10.0.0.0/8")`,
			map[string]any{"event.labels.app.kubernetes.io/name": "cart", "event.src_ip": "10.1.2.3"}},
		{`event.labels.team == "x" || event.user == "root"`,
			map[string]any{"event.labels.team": nil, "event.user": nil}},
		{`true`, nil},
	}
	for _, tc := range tests {
		if got := ruleValues(tc.rule, ev); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.rule, got, tc.want)
		}
	}
}

// jsonRuleValues is the reference ruleValues reads without encoding: the
// event's JSON form, decoded.
func jsonRuleValues(t *testing.T, rule string, ev *event.Event) map[string]any {
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, m := range ruleRef.FindAllStringSubmatch(rule, -1) {
		if m[1] == "raw" {
			continue
		}
		path, v := "event."+m[1], fields[m[1]]
		if sub := m[2] + m[3]; sub != "" {
			if mm, ok := v.(map[string]any); ok {
				path, v = path+"."+sub, mm[sub]
			} else if v == nil {
				path += "." + sub
			}
		}
		out[path] = v
	}
	return out
}

// TestRuleValuesMatchTheEventsJSON: for every JSON field of event.Event
// (so a new field fails here until fieldValue knows it), full and empty,
// with and without a key, ruleValues records what the event's JSON holds.
func TestRuleValuesMatchTheEventsJSON(t *testing.T) {
	at := time.Date(2026, 12, 1, 8, 0, 0, 123456789, time.FixedZone("x", 3600))
	full := &event.Event{ID: "i", Source: "s", Status: "firing", Name: "n", Severity: "critical", Fingerprint: "f",
		Labels: map[string]string{"k": "v"}, Annotations: map[string]string{"k": "a"}, Fields: map[string]any{"k": "x", "n": 2.5},
		Namespace: "ns", Workload: "w", Pod: "p", Host: "h", SrcIP: "10.0.0.1", DstIP: "10.0.0.2", User: "u",
		StartsAt: at, EndsAt: at.Add(time.Minute), ReceivedAt: at.Add(time.Second), Stale: true, Raw: json.RawMessage(`{"a":1}`)}
	typ := reflect.TypeOf(event.Event{})
	for _, ev := range []*event.Event{full, {}} {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			for _, rule := range []string{"event." + name, "event." + name + ".k", `event.` + name + `["n"]`, "event." + name + ".missing"} {
				want, _ := json.Marshal(jsonRuleValues(t, rule, ev))
				got, _ := json.Marshal(ruleValues(rule, ev))
				if string(got) != string(want) {
					t.Errorf("%s on %s event: got %s, want %s", rule, map[bool]string{true: "a full", false: "an empty"}[ev == full], got, want)
				}
			}
		}
	}
}
