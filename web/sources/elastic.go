package sources

import (
	"fmt"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Elastic decodes what Kibana's webhook connector posts when its body is the
// template Firebreak recommends (testdata/kibana-body.mustache): the rule,
// the action's alert block, and for Elastic Security detection rules the
// alert documents as a JSON array under "alerts" (other rule types have no
// context.alerts: drop that line of the template for them).
//
// Each document in alerts becomes one event with the ID
// elastic:<kibana.alert.uuid>:<status> (else its _id, else BodyHash of the
// document); with no alerts array, the body becomes one event whose ID comes
// from alert.uuid (else alert.id, else BodyHash). kibana.alert.status
// "recovered" and alert.action_group "recovered" are resolved, everything
// else firing. Severity comes from kibana.alert.severity or rule.severity
// (critical, high, medium → warning, low → info). Entities come from ECS
// fields, nested or flattened: host.name, source.ip, destination.ip,
// user.name, kubernetes.namespace, kubernetes.pod.name and
// kubernetes.deployment.name (or orchestrator.namespace). The document is
// under fields.alert, the rule under fields.rule.
type Elastic struct{}

// Name implements Decoder.
func (Elastic) Name() string { return "elastic" }

// Decode implements Decoder: one event per alert document.
func (e Elastic) Decode(body []byte, now time.Time) ([]event.Event, error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	var rule map[string]any
	switch v := m["rule"].(type) {
	case map[string]any:
		rule = v
	case nil:
	default:
		return nil, &DecodeError{Field: "rule", Msg: "must be an object, got " + kindOf(v)}
	}
	date, err := timeAt(m, "date")
	if err != nil {
		return nil, err
	}
	var docs []any
	switch v := m["alerts"].(type) {
	case []any:
		docs = v
	case nil:
	default:
		return nil, &DecodeError{Field: "alerts", Msg: "must be an array (render it with {{{context.alerts.asJSON}}}), got " + kindOf(v)}
	}
	if len(docs) == 0 {
		if rule == nil && m["alert"] == nil {
			return nil, &DecodeError{Field: "rule", Msg: "missing (and no alerts or alert)"}
		}
		block := obj(m, "alert")
		id := str(block, "uuid", "id")
		status := firingOr(str(block, "action_group", "status"))
		if id != "" {
			id = "elastic:" + id + ":" + status
		} else {
			id = BodyHash(e.Name(), body)
		}
		ev := e.event(m, rule, nil, id, status, date, now)
		return []event.Event{ev}, nil
	}
	out := make([]event.Event, 0, len(docs))
	for i, d := range docs {
		doc, ok := d.(map[string]any)
		if !ok {
			return nil, &DecodeError{Field: fmt.Sprintf("alerts[%d]", i), Msg: "must be an object, got " + kindOf(d)}
		}
		status := firingOr(str(doc, "kibana.alert.status"))
		id := str(doc, "kibana.alert.uuid", "_id")
		if id != "" {
			id = "elastic:" + id + ":" + status
		} else {
			id = e.Name() + ":" + valueHash(doc)
		}
		ts, err := timeAt(doc, "kibana.alert.original_time", "@timestamp")
		if err != nil {
			de := err.(*DecodeError)
			de.Field = fmt.Sprintf("alerts[%d].%s", i, de.Field)
			return nil, de
		}
		if ts.IsZero() {
			ts = date
		}
		out = append(out, e.event(m, rule, doc, id, status, ts, now))
	}
	return out, nil
}

func (e Elastic) event(m, rule, doc map[string]any, id, status string, ts, now time.Time) event.Event {
	if ts.IsZero() {
		ts = now
	}
	// Entities come from the document, else from the top level of the body
	// (a template may put ECS fields there for non-security rules).
	src := doc
	if src == nil {
		src = m
	}
	name := str(src, "kibana.alert.rule.name")
	if name == "" {
		name = str(rule, "name")
	}
	if name == "" {
		name = str(m, "rule_name", "alert.id")
	}
	fields := map[string]any{}
	for _, k := range []string{"source", "date", "kibana_base_url", "results_link", "signals_count", "alert", "context"} {
		if v, ok := m[k]; ok && v != nil {
			fields[k] = v
		}
	}
	if doc != nil {
		fields["alert"] = doc
	}
	if rule != nil {
		fields["rule"] = rule
	}
	return event.Event{
		ID:       id,
		Source:   e.Name(),
		Status:   status,
		Name:     name,
		Severity: mapSeverity(firstNonEmpty(str(src, "kibana.alert.severity"), str(rule, "severity"))),
		Labels: nonEmpty(map[string]string{
			"rule_id":   str(rule, "rule_id"),
			"rule_uuid": str(rule, "id"),
			"rule_type": str(rule, "type"),
			"space_id":  str(rule, "space_id"),
		}),
		Annotations: nonEmpty(map[string]string{
			"reason":       str(src, "kibana.alert.reason"),
			"results_link": str(m, "results_link"),
			"description":  str(rule, "description"),
		}),
		Fields:     fields,
		Namespace:  str(src, "kubernetes.namespace", "orchestrator.namespace"),
		Workload:   str(src, "kubernetes.deployment.name", "kubernetes.statefulset.name", "kubernetes.daemonset.name"),
		Pod:        str(src, "kubernetes.pod.name"),
		Host:       str(src, "host.name", "host.hostname"),
		SrcIP:      ipAt(src, "source.ip", "client.ip"),
		DstIP:      ipAt(src, "destination.ip", "server.ip"),
		User:       str(src, "user.name", "user.target.name"),
		StartsAt:   ts,
		ReceivedAt: now,
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
