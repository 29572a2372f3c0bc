package sources

import (
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Splunk decodes the Splunk webhook alert action's body: sid, search_name,
// app, owner, results_link and the first result row as result. Splunk cannot
// set headers, so its authentication is a token in the URL.
//
// The event ID is splunk:<sid>:<digest of the result row>, so a "for each
// result" alert, which posts every row with the same sid, gives one event
// per row while a redelivery keeps its ID; BodyHash when sid is absent. The
// row's severity (or urgency) maps to the scale; entities come from the row
// by common CIM names: src_ip/src → src_ip, dest_ip/dest → dst_ip (dest and
// dest_host naming a host → host), user, host, namespace, pod, and _time →
// startsAt. The row is under fields.result.
type Splunk struct{}

// Name implements Decoder.
func (Splunk) Name() string { return "splunk" }

// Decode implements Decoder: one event per body.
func (s Splunk) Decode(body []byte, now time.Time) ([]event.Event, error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	var row map[string]any
	switch v := m["result"].(type) {
	case map[string]any:
		row = v
	case nil:
		row = map[string]any{}
	default:
		return nil, &DecodeError{Field: "result", Msg: "must be an object, got " + kindOf(v)}
	}
	name := str(m, "search_name")
	if name == "" {
		return nil, &DecodeError{Field: "search_name", Msg: "missing"}
	}
	ts, err := timeAt(row, "_time")
	if err != nil {
		err.(*DecodeError).Field = "result._time"
		return nil, err
	}
	if ts.IsZero() {
		ts = now
	}
	id := str(m, "sid")
	if id != "" {
		id = "splunk:" + id + ":" + valueHash(row)
	} else {
		id = BodyHash(s.Name(), body)
	}
	host := str(row, "host", "dest_host", "dvc")
	dst := ipAt(row, "dest_ip", "dst_ip", "dest", "dst")
	if host == "" {
		if d := str(row, "dest"); d != "" && !isIP(d) {
			host = d
		}
	}
	fields := map[string]any{"result": row}
	for _, k := range []string{"sid", "results_link", "app", "owner", "search_uri", "server_host", "server_uri"} {
		if v, ok := m[k]; ok && v != nil {
			fields[k] = v
		}
	}
	ev := event.Event{
		ID:       id,
		Source:   s.Name(),
		Status:   event.StatusFiring,
		Name:     name,
		Severity: mapSeverity(str(row, "severity", "urgency", "priority")),
		Labels: nonEmpty(map[string]string{
			"app":   str(m, "app"),
			"owner": str(m, "owner"),
		}),
		Annotations: nonEmpty(map[string]string{"results_link": str(m, "results_link")}),
		Fields:      fields,
		Namespace:   str(row, "namespace", "kubernetes_namespace", "k8s_namespace"),
		Workload:    str(row, "deployment", "workload"),
		Pod:         str(row, "pod", "pod_name"),
		Host:        host,
		SrcIP:       ipAt(row, "src_ip", "src", "source_ip", "client_ip"),
		DstIP:       dst,
		User:        str(row, "user", "src_user", "user_name"),
		StartsAt:    ts,
		ReceivedAt:  now,
	}
	return []event.Event{ev}, nil
}
