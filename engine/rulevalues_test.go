package engine

import (
	"reflect"
	"testing"

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
