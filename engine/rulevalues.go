package engine

import (
	"regexp"
	"sync"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// ruleRef finds the event fields a rule reads: event.name,
// event.labels.namespace, event.labels["app.kubernetes.io/name"].
var ruleRef = regexp.MustCompile(`\bevent\.([a-z_]+)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\["([^"]+)"\])?`)

// ruleRefs caches the references of each rule text: a playbook's rule is
// the same for every event it matches, and scanning it is most of the cost.
var ruleRefs sync.Map // rule → [][]string

// ruleValues returns the values of the event fields rule reads, keyed by
// their path ("event.labels.namespace"), so that the audit record of a
// match says what the rule saw. Absent fields are recorded as nil. The
// values are those of the event's JSON form (a time is its RFC 3339
// text, an empty optional field is nil), read without encoding the event.
func ruleValues(rule string, ev *event.Event) map[string]any {
	var refs [][]string
	if v, ok := ruleRefs.Load(rule); ok {
		refs = v.([][]string)
	} else {
		refs = ruleRef.FindAllStringSubmatch(rule, -1)
		ruleRefs.Store(rule, refs)
	}
	if len(refs) == 0 {
		return nil
	}
	out := make(map[string]any, len(refs))
	for _, m := range refs {
		if m[1] == "raw" {
			continue
		}
		path, v := "event."+m[1], fieldValue(ev, m[1])
		if sub := m[2] + m[3]; sub != "" {
			switch mm := v.(type) {
			case map[string]string:
				path, v = path+"."+sub, nil
				if s, ok := mm[sub]; ok {
					v = s
				}
			case map[string]any:
				path, v = path+"."+sub, mm[sub]
			case nil:
				path += "." + sub
			}
		}
		out[path] = v
	}
	return out
}

// fieldValue is the value of the event's JSON field name as decoding the
// event's JSON would give it: nil for an omitted (empty optional) field.
func fieldValue(ev *event.Event, name string) any {
	opt := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	switch name {
	case "id":
		return ev.ID
	case "source":
		return ev.Source
	case "status":
		return ev.Status
	case "name":
		return ev.Name
	case "severity":
		return ev.Severity
	case "fingerprint":
		return opt(ev.Fingerprint)
	case "labels", "annotations":
		m := ev.Labels
		if name == "annotations" {
			m = ev.Annotations
		}
		if len(m) == 0 {
			return nil
		}
		return m
	case "fields":
		if len(ev.Fields) == 0 {
			return nil
		}
		return ev.Fields
	case "namespace":
		return opt(ev.Namespace)
	case "workload":
		return opt(ev.Workload)
	case "pod":
		return opt(ev.Pod)
	case "host":
		return opt(ev.Host)
	case "src_ip":
		return opt(ev.SrcIP)
	case "dst_ip":
		return opt(ev.DstIP)
	case "user":
		return opt(ev.User)
	case "starts_at":
		return ev.StartsAt.Format(time.RFC3339Nano)
	case "ends_at":
		return ev.EndsAt.Format(time.RFC3339Nano)
	case "received_at":
		return ev.ReceivedAt.Format(time.RFC3339Nano)
	case "stale":
		if !ev.Stale {
			return nil
		}
		return true
	}
	return nil
}
