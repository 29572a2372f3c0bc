package sources

import (
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Graylog decodes Graylog's HTTP notification: the event definition, the
// event and its message backlog.
//
// The event ID is graylog:<event.id> (else BodyHash). The name is
// event_definition_title (else event.message); event.priority maps 4 and up
// to critical, 3 high, 2 warning, 1 info. Entities come from event.fields,
// then event.group_by_fields, then the first backlog message's fields:
// src_ip/source_ip → src_ip, dst_ip/dest_ip → dst_ip, host/target_host →
// host, user/user_name/username → user. event.timestamp is startsAt; every
// event is firing, since Graylog never sends a resolution. The event is under
// fields.event, the backlog under fields.backlog.
type Graylog struct{}

// Name implements Decoder.
func (Graylog) Name() string { return "graylog" }

// Decode implements Decoder: one event per body.
func (g Graylog) Decode(body []byte, now time.Time) ([]event.Event, error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	ev0, ok := m["event"].(map[string]any)
	if !ok {
		if m["event"] != nil {
			return nil, &DecodeError{Field: "event", Msg: "must be an object, got " + kindOf(m["event"])}
		}
		return nil, &DecodeError{Field: "event", Msg: "missing"}
	}
	name := str(m, "event_definition_title")
	if name == "" {
		name = str(ev0, "message")
	}
	if name == "" {
		return nil, &DecodeError{Field: "event_definition_title", Msg: "missing (and no event.message)"}
	}
	ts, err := timeAt(ev0, "timestamp")
	if err != nil {
		err.(*DecodeError).Field = "event.timestamp"
		return nil, err
	}
	if ts.IsZero() {
		ts = now
	}
	id := str(ev0, "id")
	if id != "" {
		id = "graylog:" + id
	} else {
		id = BodyHash(g.Name(), body)
	}
	// Entity sources in order of preference.
	scopes := []map[string]any{obj(ev0, "fields"), obj(ev0, "group_by_fields")}
	backlog, _ := m["backlog"].([]any)
	if len(backlog) > 0 {
		if b, ok := backlog[0].(map[string]any); ok {
			scopes = append(scopes, obj(b, "fields"))
		}
	}
	pick := func(ip bool, keys ...string) string {
		for _, sc := range scopes {
			var v string
			if ip {
				v = ipAt(sc, keys...)
			} else {
				v = str(sc, keys...)
			}
			if v != "" {
				return v
			}
		}
		return ""
	}
	fields := map[string]any{"event": ev0}
	if backlog != nil {
		fields["backlog"] = backlog
	}
	for _, k := range []string{"event_definition_id", "event_definition_type", "event_definition_description", "job_definition_id", "job_trigger_id"} {
		if v, ok := m[k]; ok && v != nil {
			fields[k] = v
		}
	}
	prio, _ := number(ev0["priority"])
	ev := event.Event{
		ID:       id,
		Source:   g.Name(),
		Status:   event.StatusFiring,
		Name:     name,
		Severity: graylogSeverity(prio),
		Labels: nonEmpty(map[string]string{
			"event_definition_id":   str(m, "event_definition_id"),
			"event_definition_type": str(m, "event_definition_type"),
			"key":                   str(ev0, "key"),
		}),
		Annotations: nonEmpty(map[string]string{
			"message":     str(ev0, "message"),
			"description": str(m, "event_definition_description"),
		}),
		Fields:     fields,
		Namespace:  pick(false, "namespace", "kubernetes_namespace_name", "k8s_namespace"),
		Workload:   pick(false, "deployment", "workload", "kubernetes_deployment_name"),
		Pod:        pick(false, "pod", "kubernetes_pod_name", "pod_name"),
		Host:       pick(false, "host", "target_host", "hostname"),
		SrcIP:      pick(true, "src_ip", "source_ip", "client_ip", "src_addr"),
		DstIP:      pick(true, "dst_ip", "dest_ip", "destination_ip"),
		User:       pick(false, "user", "user_name", "username", "target_user"),
		StartsAt:   ts,
		ReceivedAt: now,
	}
	if ev.Host == "" && len(backlog) > 0 {
		if b, ok := backlog[0].(map[string]any); ok {
			ev.Host = str(b, "source")
		}
	}
	return []event.Event{ev}, nil
}

func graylogSeverity(p float64) string {
	switch {
	case p >= 4:
		return event.SeverityCritical
	case p >= 3:
		return event.SeverityHigh
	case p >= 2:
		return event.SeverityWarning
	default:
		return event.SeverityInfo
	}
}
