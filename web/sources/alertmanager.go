package sources

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Alertmanager decodes Prometheus Alertmanager's webhook payload (version 4).
type Alertmanager struct{}

// Name implements Decoder.
func (Alertmanager) Name() string { return "alertmanager" }

type amMessage struct {
	Version            string            `json:"version"`
	GroupKey           string            `json:"groupKey"`
	TruncatedAlerts    int               `json:"truncatedAlerts"`
	Status             string            `json:"status"`
	Receiver           string            `json:"receiver"`
	GroupLabels        map[string]string `json:"groupLabels"`
	CommonLabels       map[string]string `json:"commonLabels"`
	CommonAnnotations  map[string]string `json:"commonAnnotations"`
	ExternalURL        string            `json:"externalURL"`
	NotificationReason string            `json:"notification_reason"`
	RouteLabels        map[string]string `json:"routeLabels"`
	Alerts             []amAlert         `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Decode implements Decoder: one event per alert, firing and resolved both.
func (a Alertmanager) Decode(body []byte, now time.Time) ([]event.Event, error) {
	var m amMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, jsonError(err)
	}
	if m.Alerts == nil {
		return nil, &DecodeError{Field: "alerts", Msg: "missing"}
	}
	out := make([]event.Event, 0, len(m.Alerts))
	for i, al := range m.Alerts {
		if al.Status != event.StatusFiring && al.Status != event.StatusResolved {
			return nil, &DecodeError{Field: fmt.Sprintf("alerts[%d].status", i), Msg: fmt.Sprintf("must be firing or resolved, got %q", al.Status)}
		}
		fp := al.Fingerprint
		if fp == "" {
			fp = labelsFingerprint(al.Labels)
		}
		ev := event.Event{
			ID:          "am:" + fp + ":" + al.StartsAt.UTC().Format(time.RFC3339Nano) + ":" + al.Status,
			Source:      a.Name(),
			Status:      al.Status,
			Name:        al.Labels["alertname"],
			Severity:    mapSeverity(al.Labels["severity"]),
			Fingerprint: fp,
			Labels:      al.Labels,
			Annotations: al.Annotations,
			Namespace:   al.Labels["namespace"],
			Workload:    firstOf(al.Labels, "deployment", "statefulset", "daemonset", "workload"),
			Pod:         al.Labels["pod"],
			Host:        firstOf(al.Labels, "node", "host", "hostname"),
			SrcIP:       firstOf(al.Labels, "src_ip", "source_ip"),
			DstIP:       firstOf(al.Labels, "dst_ip", "destination_ip"),
			User:        al.Labels["user"],
			StartsAt:    al.StartsAt,
			ReceivedAt:  now,
			Fields: map[string]any{
				"receiver":     m.Receiver,
				"groupKey":     m.GroupKey,
				"externalURL":  m.ExternalURL,
				"generatorURL": al.GeneratorURL,
			},
		}
		if !al.EndsAt.IsZero() && al.EndsAt.Year() > 1 {
			ev.EndsAt = al.EndsAt
		}
		if m.TruncatedAlerts > 0 {
			ev.Fields["truncatedAlerts"] = m.TruncatedAlerts
		}
		if m.NotificationReason != "" {
			ev.Fields["notification_reason"] = m.NotificationReason
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

// mapSeverity maps the common severity spellings to Firebreak's scale.
func mapSeverity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "crit", "fatal", "emergency", "emerg", "alert", "page", "p1":
		return event.SeverityCritical
	case "high", "error", "err", "major", "p2":
		return event.SeverityHigh
	case "warning", "warn", "medium", "minor", "p3":
		return event.SeverityWarning
	default:
		return event.SeverityInfo
	}
}
