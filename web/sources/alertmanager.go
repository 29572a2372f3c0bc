package sources

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Alertmanager decodes Prometheus Alertmanager's webhook payload (version 4),
// including the fields Alertmanager 0.34 added (truncatedAlerts,
// notification_reason, routeLabels). Each alert, firing or resolved, becomes
// one event with the ID am:<fingerprint>:<startsAt RFC3339Nano UTC>:<status>.
type Alertmanager struct{}

// Name implements Decoder.
func (Alertmanager) Name() string { return "alertmanager" }

// Decode implements Decoder: one event per alert, firing and resolved both.
func (a Alertmanager) Decode(body []byte, now time.Time) ([]event.Event, error) {
	m, err := decodeAMMessage(body)
	if err != nil {
		return nil, err
	}
	return m.events(a.Name(), "am", now, nil)
}

// amMessage is Alertmanager's webhook body; Grafana's is a superset. The
// lenient field types accept numbers where strings are expected.
type amMessage struct {
	Version            lstring   `json:"version"`
	GroupKey           lstring   `json:"groupKey"`
	TruncatedAlerts    lint      `json:"truncatedAlerts"`
	Status             lstring   `json:"status"`
	Receiver           lstring   `json:"receiver"`
	GroupLabels        lmap      `json:"groupLabels"`
	CommonLabels       lmap      `json:"commonLabels"`
	CommonAnnotations  lmap      `json:"commonAnnotations"`
	ExternalURL        lstring   `json:"externalURL"`
	NotificationReason lstring   `json:"notification_reason"`
	RouteLabels        lmap      `json:"routeLabels"`
	Alerts             []amAlert `json:"alerts"`

	// Grafana only.
	OrgID   lint    `json:"orgId"`
	Title   lstring `json:"title"`
	State   lstring `json:"state"`
	Message lstring `json:"message"`
}

type amAlert struct {
	Status       lstring `json:"status"`
	Labels       lmap    `json:"labels"`
	Annotations  lmap    `json:"annotations"`
	StartsAt     ltime   `json:"startsAt"`
	EndsAt       ltime   `json:"endsAt"`
	GeneratorURL lstring `json:"generatorURL"`
	Fingerprint  lstring `json:"fingerprint"`

	// Grafana only.
	SilenceURL   lstring         `json:"silenceURL"`
	DashboardURL lstring         `json:"dashboardURL"`
	PanelURL     lstring         `json:"panelURL"`
	ImageURL     lstring         `json:"imageURL"`
	Values       json.RawMessage `json:"values"`
	ValueString  lstring         `json:"valueString"`
}

func decodeAMMessage(body []byte) (*amMessage, error) {
	body = keepDistinct(body)
	if m, ok := decodeAMStrict(body); ok {
		return m, nil
	}
	return decodeAMLenient(body)
}

// amStrict is amMessage with plain field types. encoding/json decodes it in
// one pass, where every lenient field makes it scan the value and then call
// an UnmarshalJSON that parses it again. For the common, well-typed payload
// this takes a quarter off the decoder's time (BenchmarkDecode/alertmanager:
// 39.6 → 30.8 µs, 169 → 139 allocations). Any body it refuses, or might read
// differently, goes to the lenient decoder; FuzzAlertmanagerFastPath checks
// that the two agree on every body the fast path takes.
type amStrict struct {
	Version            string            `json:"version"`
	GroupKey           string            `json:"groupKey"`
	TruncatedAlerts    int32             `json:"truncatedAlerts"`
	Status             string            `json:"status"`
	Receiver           string            `json:"receiver"`
	GroupLabels        map[string]string `json:"groupLabels"`
	CommonLabels       map[string]string `json:"commonLabels"`
	CommonAnnotations  map[string]string `json:"commonAnnotations"`
	ExternalURL        string            `json:"externalURL"`
	NotificationReason string            `json:"notification_reason"`
	RouteLabels        map[string]string `json:"routeLabels"`
	Alerts             []amStrictAlert   `json:"alerts"`
	OrgID              int32             `json:"orgId"`
	Title              string            `json:"title"`
	State              string            `json:"state"`
	Message            string            `json:"message"`
}

type amStrictAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	SilenceURL   string            `json:"silenceURL"`
	DashboardURL string            `json:"dashboardURL"`
	PanelURL     string            `json:"panelURL"`
	ImageURL     string            `json:"imageURL"`
	Values       json.RawMessage   `json:"values"`
	ValueString  string            `json:"valueString"`
}

// decodeAMStrict is the fast path of decodeAMMessage; ok is false when the
// lenient decoder must decide.
func decodeAMStrict(body []byte) (*amMessage, bool) {
	// A null inside a label map is dropped by lmap but kept as "" by
	// map[string]string; the int32 bound of lint is symmetric. Both are rare
	// enough to leave to the lenient path whole.
	if bytes.Contains(body, []byte("null")) {
		return nil, false
	}
	var s amStrict
	if json.Unmarshal(body, &s) != nil || s.Alerts == nil || s.TruncatedAlerts == math.MinInt32 || s.OrgID == math.MinInt32 {
		return nil, false
	}
	m := &amMessage{
		Version: lstring(s.Version), GroupKey: lstring(s.GroupKey), TruncatedAlerts: lint(s.TruncatedAlerts),
		Status: lstring(s.Status), Receiver: lstring(s.Receiver),
		GroupLabels: lmap(s.GroupLabels), CommonLabels: lmap(s.CommonLabels), CommonAnnotations: lmap(s.CommonAnnotations),
		ExternalURL: lstring(s.ExternalURL), NotificationReason: lstring(s.NotificationReason), RouteLabels: lmap(s.RouteLabels),
		Alerts: make([]amAlert, len(s.Alerts)),
		OrgID:  lint(s.OrgID), Title: lstring(s.Title), State: lstring(s.State), Message: lstring(s.Message),
	}
	for i, a := range s.Alerts {
		m.Alerts[i] = amAlert{
			Status: lstring(a.Status), Labels: lmap(a.Labels), Annotations: lmap(a.Annotations),
			StartsAt: ltime{a.StartsAt}, EndsAt: ltime{a.EndsAt},
			GeneratorURL: lstring(a.GeneratorURL), Fingerprint: lstring(a.Fingerprint),
			SilenceURL: lstring(a.SilenceURL), DashboardURL: lstring(a.DashboardURL), PanelURL: lstring(a.PanelURL),
			ImageURL: lstring(a.ImageURL), Values: a.Values, ValueString: lstring(a.ValueString),
		}
	}
	return m, true
}

func decodeAMLenient(body []byte) (*amMessage, error) {
	var m amMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, alertIndexError(body, structError(err))
	}
	if m.Alerts == nil {
		return nil, &DecodeError{Field: "alerts", Msg: "missing"}
	}
	return &m, nil
}

// alertIndexError adds the index of the failing alert to an error inside
// alerts (encoding/json names the field but not the element). It decodes
// again, alert by alert, so only a body that failed pays for it.
func alertIndexError(body []byte, err error) error {
	de, ok := err.(*DecodeError)
	if !ok || !strings.HasPrefix(de.Field, "alerts.") && de.Field != "alerts" {
		return err
	}
	var raw struct {
		Alerts []json.RawMessage `json:"alerts"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return err
	}
	for i, a := range raw.Alerts {
		var al amAlert
		if e := json.Unmarshal(a, &al); e != nil {
			ae := structError(e).(*DecodeError)
			if ae.Field == "" || ae.Field == "body" {
				ae.Field = fmt.Sprintf("alerts[%d]", i)
			} else {
				ae.Field = fmt.Sprintf("alerts[%d].%s", i, ae.Field)
			}
			return ae
		}
	}
	return err
}

// events builds one event per alert. extra, when set, adds source-specific
// fields for an alert.
func (m *amMessage) events(source, idPrefix string, now time.Time, extra func(al *amAlert, f map[string]any)) ([]event.Event, error) {
	out := make([]event.Event, 0, len(m.Alerts))
	for i := range m.Alerts {
		al := &m.Alerts[i]
		status := strings.ToLower(strings.TrimSpace(string(al.Status)))
		if status == "" {
			// A sender that sets only the group status still says what it means.
			status = strings.ToLower(strings.TrimSpace(string(m.Status)))
		}
		if status != event.StatusFiring && status != event.StatusResolved {
			return nil, &DecodeError{Field: fmt.Sprintf("alerts[%d].status", i), Msg: fmt.Sprintf("must be firing or resolved, got %q", truncate(string(al.Status), 40))}
		}
		if al.StartsAt.IsZero() {
			return nil, &DecodeError{Field: fmt.Sprintf("alerts[%d].startsAt", i), Msg: "missing"}
		}
		labels := map[string]string(al.Labels)
		fp := string(al.Fingerprint)
		if fp == "" {
			fp = labelsFingerprint(labels)
		}
		ev := event.Event{
			ID:          idPrefix + ":" + fp + ":" + al.StartsAt.UTC().Format(time.RFC3339Nano) + ":" + status,
			Source:      source,
			Status:      status,
			Name:        labels["alertname"],
			Severity:    mapSeverity(firstOf(labels, "severity", "priority", "level")),
			Fingerprint: fp,
			Labels:      labels,
			Annotations: map[string]string(al.Annotations),
			Namespace:   firstOf(labels, "namespace", "exported_namespace", "k8s_namespace_name"),
			Workload:    firstOf(labels, "deployment", "statefulset", "daemonset", "workload", "job_name", "cronjob"),
			Pod:         firstOf(labels, "pod", "exported_pod", "pod_name"),
			Host:        firstOf(labels, "node", "host", "hostname", "nodename"),
			SrcIP:       ipOf(labels, "src_ip", "source_ip", "client_ip", "remote_ip"),
			DstIP:       ipOf(labels, "dst_ip", "destination_ip", "dest_ip"),
			User:        firstOf(labels, "user", "username", "user_name"),
			StartsAt:    al.StartsAt.Time,
			ReceivedAt:  now,
			Fields: map[string]any{
				"receiver":     string(m.Receiver),
				"groupKey":     string(m.GroupKey),
				"externalURL":  string(m.ExternalURL),
				"generatorURL": string(al.GeneratorURL),
			},
		}
		if ev.Name == "" {
			ev.Name = firstOf(map[string]string(m.CommonLabels), "alertname")
		}
		// Alertmanager sends 0001-01-01T00:00:00Z for "not ended".
		if al.EndsAt.Year() > 1 {
			ev.EndsAt = al.EndsAt.Time
		}
		if m.TruncatedAlerts > 0 {
			ev.Fields["truncatedAlerts"] = int(m.TruncatedAlerts)
		}
		if m.NotificationReason != "" {
			ev.Fields["notification_reason"] = string(m.NotificationReason)
		}
		if len(m.RouteLabels) > 0 {
			ev.Fields["routeLabels"] = map[string]string(m.RouteLabels)
		}
		if len(m.GroupLabels) > 0 {
			ev.Fields["groupLabels"] = map[string]string(m.GroupLabels)
		}
		if extra != nil {
			extra(al, ev.Fields)
		}
		out = append(out, ev)
	}
	return out, nil
}

func firstOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

// ipOf is firstOf for addresses: a value that is "ip:port" keeps the IP, a
// value that is not an address is skipped.
func ipOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		v := m[k]
		if v == "" {
			continue
		}
		if isIP(v) {
			return v
		}
		if h, _, ok := splitHostPort(v); ok && isIP(h) {
			return h
		}
	}
	return ""
}

func splitHostPort(s string) (host, port string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false
	}
	host, port = s[:i], s[i+1:]
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return host, port, true
}

// labelsFingerprint derives a stable fingerprint from sorted labels, for
// senders that leave fingerprint out.
func labelsFingerprint(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	return BodyHash("labels", []byte(b.String()))[len("labels:"):][:16]
}

// mapSeverity maps the common severity spellings to Firebreak's scale;
// anything unknown or absent is info.
func mapSeverity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "crit", "fatal", "emergency", "emerg", "alert", "page", "p1", "sev0", "sev1", "disaster":
		return event.SeverityCritical
	case "high", "error", "err", "major", "p2", "severe":
		return event.SeverityHigh
	case "warning", "warn", "medium", "minor", "p3", "average", "moderate":
		return event.SeverityWarning
	default:
		return event.SeverityInfo
	}
}
