package event

import (
	"encoding/json"
	"time"
)

// Status values.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Severity values, one scale for every source.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Event is one normalised alert or security finding. The expr tags name the
// fields as playbook rules see them (event.src_ip, event.labels.namespace …).
type Event struct {
	// ID is the stable idempotency key: a redelivery of the same alert has the same ID.
	ID string `json:"id" expr:"id"`
	// Source names the receiver that produced the event (alertmanager, falco, …).
	Source string `json:"source" expr:"source"`
	// Status is firing or resolved.
	Status string `json:"status" expr:"status"`
	// Name is the alert or rule name.
	Name string `json:"name" expr:"name"`
	// Severity is critical, high, warning or info.
	Severity string `json:"severity" expr:"severity"`
	// Fingerprint identifies the alert across firing and resolved notifications.
	Fingerprint string `json:"fingerprint,omitempty" expr:"fingerprint"`
	// Labels and Annotations are the alert's key/value metadata.
	Labels      map[string]string `json:"labels,omitempty" expr:"labels"`
	Annotations map[string]string `json:"annotations,omitempty" expr:"annotations"`
	// Fields holds source-specific extras (Falco output_fields, Wazuh data, …).
	Fields map[string]any `json:"fields,omitempty" expr:"fields"`

	// Entity references that actions can use, where the source knows them.
	Namespace string `json:"namespace,omitempty" expr:"namespace"`
	Workload  string `json:"workload,omitempty" expr:"workload"`
	Pod       string `json:"pod,omitempty" expr:"pod"`
	Host      string `json:"host,omitempty" expr:"host"`
	SrcIP     string `json:"src_ip,omitempty" expr:"src_ip"`
	DstIP     string `json:"dst_ip,omitempty" expr:"dst_ip"`
	User      string `json:"user,omitempty" expr:"user"`
	// Sender is who authenticated the request that carried the event,
	// when the source's authentication names one (the subject of an mtls
	// client certificate); never taken from the payload.
	Sender string `json:"sender,omitempty" expr:"sender"`

	StartsAt   time.Time `json:"starts_at" expr:"starts_at"`
	EndsAt     time.Time `json:"ends_at,omitempty" expr:"ends_at"`
	ReceivedAt time.Time `json:"received_at" expr:"received_at"`

	// Stale marks an event older than the configured maximum age when it arrived.
	Stale bool `json:"stale,omitempty" expr:"stale"`

	// Raw is the payload the event was decoded from, kept in the inbox for
	// replay. Rules cannot see it.
	Raw json.RawMessage `json:"raw,omitempty" expr:"-"`
}

// Firing reports whether the event is a firing alert.
func (e *Event) Firing() bool { return e.Status == StatusFiring }

// Label returns the label value or def when the label is absent or empty.
func (e *Event) Label(name, def string) string {
	if v, ok := e.Labels[name]; ok && v != "" {
		return v
	}
	return def
}
