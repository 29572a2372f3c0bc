package sources

import (
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Wazuh decodes Wazuh alerts in two shapes: the alert itself (as the
// manager's custom integrations and alerts.json have it) and the shape of
// Wazuh's built-in shuffle integration, which wraps the alert in all_fields
// next to severity, title, text and rule_id.
//
// The event ID is wazuh:<alert id> or BodyHash. rule.level (0–15) maps to
// severity: 12 and above critical, 8–11 high, 5–7 warning, below 5 info.
// The timestamp layout is 2006-01-02T15:04:05.000-0700. Entities: agent.name
// → host (the manager's name when the agent is the manager itself, id 000,
// and predecoder.hostname is absent), data.srcip → src_ip, data.dstip →
// dst_ip, data.dstuser (else data.srcuser) → user, data.k8s namespace and pod
// where present. The whole alert is under Fields (fields.data.srcip,
// fields.rule.groups …).
type Wazuh struct{}

// Name implements Decoder.
func (Wazuh) Name() string { return "wazuh" }

// Decode implements Decoder: one event per body.
func (w Wazuh) Decode(body []byte, now time.Time) ([]event.Event, error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	alert := m
	prefix := ""
	if af, ok := m["all_fields"]; ok {
		inner, ok := af.(map[string]any)
		if !ok {
			return nil, &DecodeError{Field: "all_fields", Msg: "must be an object, got " + kindOf(af)}
		}
		alert, prefix = inner, "all_fields."
	}
	rule, ok := alert["rule"].(map[string]any)
	if !ok {
		if alert["rule"] != nil {
			return nil, &DecodeError{Field: prefix + "rule", Msg: "must be an object, got " + kindOf(alert["rule"])}
		}
		return nil, &DecodeError{Field: prefix + "rule", Msg: "missing"}
	}
	name := str(rule, "description")
	if name == "" {
		name = str(m, "title")
	}
	ruleID := str(rule, "id")
	if ruleID == "" {
		ruleID = str(m, "rule_id")
	}
	if name == "" && ruleID == "" {
		return nil, &DecodeError{Field: prefix + "rule.description", Msg: "missing (and no rule.id)"}
	}
	if name == "" {
		name = "wazuh rule " + ruleID
	}
	level, hasLevel := number(rule["level"])
	if !hasLevel && rule["level"] != nil {
		return nil, &DecodeError{Field: prefix + "rule.level", Msg: "must be a number, got " + kindOf(rule["level"])}
	}
	ts, err := timeAt(alert, "timestamp", "@timestamp")
	if err != nil {
		if de, ok := err.(*DecodeError); ok {
			de.Field = prefix + de.Field
		}
		return nil, err
	}
	if ts.IsZero() {
		if ts, err = timeAt(m, "timestamp"); err != nil {
			return nil, err
		}
	}
	if ts.IsZero() {
		ts = now
	}
	id := str(alert, "id")
	if id == "" {
		id = str(m, "id")
	}
	if id != "" {
		id = "wazuh:" + id
	} else {
		id = BodyHash(w.Name(), body)
	}
	host := str(alert, "agent.name")
	if str(alert, "agent.id") == "000" {
		host = str(alert, "predecoder.hostname", "agent.name")
	}
	labels := nonEmpty(map[string]string{
		"rule_id":  ruleID,
		"agent_id": str(alert, "agent.id"),
		"agent":    str(alert, "agent.name"),
		"manager":  str(alert, "manager.name"),
		"decoder":  str(alert, "decoder.name"),
		"location": str(alert, "location"),
	})
	if hasLevel {
		if labels == nil {
			labels = map[string]string{}
		}
		labels["level"], _ = scalarString(int64(level))
	}
	ev := event.Event{
		ID:          id,
		Source:      w.Name(),
		Status:      event.StatusFiring,
		Name:        name,
		Severity:    wazuhSeverity(level, hasLevel, str(m, "severity")),
		Labels:      labels,
		Annotations: nonEmpty(map[string]string{"description": str(rule, "description"), "full_log": str(alert, "full_log")}),
		Fields:      alert,
		Namespace:   str(alert, "data.k8s.namespace", "data.kubernetes.namespace", "data.namespace"),
		Pod:         str(alert, "data.k8s.pod", "data.kubernetes.pod", "data.pod"),
		Host:        host,
		SrcIP:       ipAt(alert, "data.srcip", "data.src_ip", "data.win.eventdata.ipAddress", "data.aws.sourceIPAddress"),
		DstIP:       ipAt(alert, "data.dstip", "data.dst_ip"),
		User:        str(alert, "data.dstuser", "data.srcuser", "data.win.eventdata.targetUserName", "data.aws.userIdentity.userName"),
		StartsAt:    ts,
		ReceivedAt:  now,
	}
	return []event.Event{ev}, nil
}

// wazuhSeverity maps rule.level; without one, the shuffle shape's own
// severity (1 low … 3 high, 4 critical) is used.
func wazuhSeverity(level float64, ok bool, shuffle string) string {
	if !ok {
		if f, ok := number(shuffle); ok {
			switch {
			case f >= 4:
				return event.SeverityCritical
			case f >= 3:
				return event.SeverityHigh
			case f >= 2:
				return event.SeverityWarning
			}
		}
		return event.SeverityInfo
	}
	switch {
	case level >= 12:
		return event.SeverityCritical
	case level >= 8:
		return event.SeverityHigh
	case level >= 5:
		return event.SeverityWarning
	default:
		return event.SeverityInfo
	}
}
