package sources

import (
	"strings"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Azure decodes Azure Monitor alerts sent with the common alert schema
// (schemaId azureMonitorCommonAlertSchema).
//
// The event ID is azure:<essentials.alertId>:<status>, since Azure sends the
// same alertId when the alert fires and when it resolves; monitorCondition
// Fired is firing and Resolved resolved. essentials.severity Sev0 is
// critical, Sev1 high, Sev2 warning, Sev3 and Sev4 info. The dimensions of
// the alert context's conditions (allOf[].dimensions) become labels and give
// entities by name, case-insensitively: IPAddress/ClientIP/SourceIP →
// src_ip, DestinationIP → dst_ip, UserPrincipalName/User/Account → user,
// Computer/Host/HostName → host (else the configuration item of a virtual
// machine target), Namespace, Pod. Essentials, the alert context and custom
// properties are under Fields; custom properties are also labels.
type Azure struct{}

// Name implements Decoder.
func (Azure) Name() string { return "azure" }

// Decode implements Decoder: one event per body.
func (a Azure) Decode(body []byte, now time.Time) ([]event.Event, error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	data, ok := m["data"].(map[string]any)
	if !ok {
		return nil, &DecodeError{Field: "data", Msg: "missing or not an object"}
	}
	ess, ok := data["essentials"].(map[string]any)
	if !ok {
		return nil, &DecodeError{Field: "data.essentials", Msg: "missing or not an object"}
	}
	name := str(ess, "alertRule")
	if name == "" {
		return nil, &DecodeError{Field: "data.essentials.alertRule", Msg: "missing"}
	}
	status := event.StatusFiring
	if strings.EqualFold(str(ess, "monitorCondition"), "resolved") {
		status = event.StatusResolved
	}
	starts, err := timeAt(ess, "firedDateTime")
	if err != nil {
		err.(*DecodeError).Field = "data.essentials.firedDateTime"
		return nil, err
	}
	if starts.IsZero() {
		starts = now
	}
	ends, err := timeAt(ess, "resolvedDateTime")
	if err != nil {
		err.(*DecodeError).Field = "data.essentials.resolvedDateTime"
		return nil, err
	}
	id := str(ess, "alertId")
	if id != "" {
		id = "azure:" + id + ":" + status
	} else {
		id = BodyHash(a.Name(), body)
	}
	ctx := obj(data, "alertContext")
	dims := azureDimensions(ctx)
	labels := map[string]string{}
	for k, v := range stringMap(data["customProperties"]) {
		labels[k] = v
	}
	for k, v := range dims {
		labels[k] = v
	}
	labels["signal_type"] = str(ess, "signalType")
	labels["monitoring_service"] = str(ess, "monitoringService")
	labels["severity"] = str(ess, "severity")
	dim := func(ip bool, names ...string) string {
		for _, n := range names {
			for k, v := range dims {
				if strings.EqualFold(k, n) && (!ip || isIP(v)) {
					return v
				}
			}
		}
		return ""
	}
	host := dim(false, "Computer", "Host", "HostName")
	if host == "" {
		if targets, ok := ess["alertTargetIDs"].([]any); ok && len(targets) == 1 {
			if t, _ := targets[0].(string); strings.Contains(strings.ToLower(t), "/microsoft.compute/virtualmachines/") {
				if items, ok := ess["configurationItems"].([]any); ok && len(items) == 1 {
					host, _ = scalarString(items[0])
				}
			}
		}
	}
	fields := map[string]any{"essentials": ess}
	if ctx != nil {
		fields["alertContext"] = ctx
	}
	if cp := data["customProperties"]; cp != nil {
		fields["customProperties"] = cp
	}
	if s := str(m, "schemaId"); s != "" {
		fields["schemaId"] = s
	}
	ev := event.Event{
		ID:          id,
		Source:      a.Name(),
		Status:      status,
		Name:        name,
		Severity:    azureSeverity(str(ess, "severity")),
		Labels:      nonEmpty(labels),
		Annotations: nonEmpty(map[string]string{"description": str(ess, "description")}),
		Fields:      fields,
		Namespace:   dim(false, "Namespace", "KubernetesNamespace"),
		Pod:         dim(false, "Pod", "PodName"),
		Host:        host,
		SrcIP:       dim(true, "IPAddress", "ClientIP", "SourceIP", "SrcIP", "CallerIpAddress"),
		DstIP:       dim(true, "DestinationIP", "DestIP", "DstIP"),
		User:        dim(false, "UserPrincipalName", "User", "Account", "UserName"),
		StartsAt:    starts,
		ReceivedAt:  now,
	}
	if status == event.StatusResolved && ends.Year() > 1 {
		ev.EndsAt = ends
	}
	return []event.Event{ev}, nil
}

// azureDimensions collects {name, value} dimensions from every condition of
// the alert context.
func azureDimensions(ctx map[string]any) map[string]string {
	out := map[string]string{}
	allOf, _ := lookup(ctx, "condition.allOf").([]any)
	for _, c := range allOf {
		cm, _ := c.(map[string]any)
		dims, _ := cm["dimensions"].([]any)
		for _, d := range dims {
			dm, _ := d.(map[string]any)
			n := str(dm, "name")
			v := str(dm, "value")
			if n != "" && v != "" {
				out[n] = v
			}
		}
	}
	return out
}

func azureSeverity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sev0":
		return event.SeverityCritical
	case "sev1":
		return event.SeverityHigh
	case "sev2":
		return event.SeverityWarning
	case "sev3", "sev4":
		return event.SeverityInfo
	default:
		return mapSeverity(s)
	}
}
