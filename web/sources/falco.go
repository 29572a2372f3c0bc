package sources

import (
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Falco decodes Falco events as falcosidekick's webhook output posts them.
// The event ID is falco:<uuid> (falcosidekick sets uuid) or BodyHash. The
// priority maps to severity: emergency, alert and critical are critical;
// error is high; warning and notice are warning (Falco's stock rules use
// notice for real detections); informational and debug are info.
//
// Entities come from output_fields: k8s.ns.name → namespace, k8s.pod.name →
// pod, the deployment (k8s.deployment.name, k8smeta.deployment.name) →
// workload, hostname → host, user.name → user, and the connection's client
// and server addresses → src_ip and dst_ip (fd.cip/fd.sip; otherwise
// fd.rip/fd.lip ordered by whether the syscall accepted or connected). Every
// output field stays under Fields by its dotted name (fields["proc.name"]),
// alongside output, source, tags, hostname and priority.
type Falco struct{}

// Name implements Decoder.
func (Falco) Name() string { return "falco" }

// Decode implements Decoder: one event per body.
func (f Falco) Decode(body []byte, now time.Time) ([]event.Event, error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	rule := str(m, "rule")
	if rule == "" {
		return nil, &DecodeError{Field: "rule", Msg: "missing"}
	}
	var of map[string]any
	switch v := m["output_fields"].(type) {
	case map[string]any:
		of = v
	case nil:
		of = map[string]any{}
	default:
		return nil, &DecodeError{Field: "output_fields", Msg: "must be an object, got " + kindOf(v)}
	}
	ts, err := timeAt(m, "time")
	if err != nil {
		return nil, err
	}
	if ts.IsZero() {
		if t, ok := nsTime(of["evt.time"]); ok {
			ts = t
		} else {
			ts = now
		}
	}
	id := str(m, "uuid")
	if id != "" {
		id = "falco:" + id
	} else {
		id = BodyHash(f.Name(), body)
	}
	priority := str(m, "priority")
	fields := make(map[string]any, len(of)+6)
	for k, v := range of {
		fields[k] = v
	}
	for _, k := range []string{"output", "source", "tags", "hostname", "priority"} {
		if v, ok := m[k]; ok && v != nil {
			fields[k] = v
		}
	}
	src, dst := falcoAddrs(of)
	ev := event.Event{
		ID:       id,
		Source:   f.Name(),
		Status:   event.StatusFiring,
		Name:     rule,
		Severity: falcoSeverity(priority),
		Labels: nonEmpty(map[string]string{
			"rule":     rule,
			"priority": priority,
			"source":   str(m, "source"),
		}),
		Annotations: nonEmpty(map[string]string{"output": str(m, "output")}),
		Fields:      fields,
		Namespace:   str(of, "k8s.ns.name", "k8smeta.ns.name"),
		Workload:    str(of, "k8s.deployment.name", "k8smeta.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name"),
		Pod:         str(of, "k8s.pod.name", "k8smeta.pod.name"),
		Host:        str(m, "hostname"),
		SrcIP:       src,
		DstIP:       dst,
		User:        str(of, "user.name", "user.loginname", "ka.user.name"),
		StartsAt:    ts,
		ReceivedAt:  now,
	}
	if ev.Host == "" {
		ev.Host = str(of, "evt.hostname")
	}
	return []event.Event{ev}, nil
}

// falcoAddrs picks the source and destination addresses of the event's
// connection. The client is the source and the server the destination; with
// only remote and local addresses, an inbound syscall (accept, recvfrom …)
// makes the remote end the source, an outbound one the destination.
func falcoAddrs(of map[string]any) (src, dst string) {
	src = ipAt(of, "fd.cip", "fd.cip.name")
	dst = ipAt(of, "fd.sip", "fd.sip.name")
	if src != "" || dst != "" {
		return src, dst
	}
	rip := ipAt(of, "fd.rip", "fd.rip.name")
	lip := ipAt(of, "fd.lip", "fd.lip.name")
	switch evt := str(of, "evt.type"); {
	case strings.HasPrefix(evt, "accept") || strings.HasPrefix(evt, "recv") || evt == "listen" || evt == "read":
		return rip, lip
	default:
		return lip, rip
	}
}

// falcoPriorities are Falco's priorities by their numeric value.
var falcoPriorities = []string{"emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"}

func falcoSeverity(p string) string {
	if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil && n >= 0 && n < len(falcoPriorities) {
		p = falcoPriorities[n]
	}
	switch strings.ToLower(strings.TrimSpace(p)) {
	case "emergency", "alert", "critical":
		return event.SeverityCritical
	case "error":
		return event.SeverityHigh
	case "warning", "notice":
		return event.SeverityWarning
	default:
		return event.SeverityInfo
	}
}

// nsTime reads Falco's evt.time, nanoseconds since the epoch.
func nsTime(v any) (time.Time, bool) {
	if i, ok := v.(int64); ok {
		return unixInt(i)
	}
	f, ok := number(v)
	if !ok {
		return time.Time{}, false
	}
	return unixTime(f)
}

// nonEmpty drops empty values and returns nil for an empty map.
func nonEmpty(m map[string]string) map[string]string {
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}
