package engine

import (
	"encoding/json"
	"regexp"

	"github.com/firebreak/firebreak/engine/event"
)

// ruleRef finds the event fields a rule reads: event.name,
// event.labels.namespace, event.labels["app.kubernetes.io/name"].
var ruleRef = regexp.MustCompile(`\bevent\.([a-z_]+)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\["([^"]+)"\])?`)

// ruleValues returns the values of the event fields rule reads, keyed by
// their path ("event.labels.namespace"), so that the audit record of a
// match says what the rule saw. Absent fields are recorded as nil.
func ruleValues(rule string, ev *event.Event) map[string]any {
	refs := ruleRef.FindAllStringSubmatch(rule, -1)
	if len(refs) == 0 {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil
	}
	out := make(map[string]any, len(refs))
	for _, m := range refs {
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
