package sources

import (
	"encoding/json"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// Grafana decodes Grafana unified alerting's webhook contact point payload:
// Alertmanager's shape plus orgId, title, state and message for the group,
// and values, valueString, silenceURL, dashboardURL, panelURL and imageURL
// per alert, all kept under Fields. Event IDs are
// grafana:<fingerprint>:<startsAt RFC3339Nano UTC>:<status>.
type Grafana struct{}

// Name implements Decoder.
func (Grafana) Name() string { return "grafana" }

// Decode implements Decoder: one event per alert, firing and resolved both.
func (g Grafana) Decode(body []byte, now time.Time) ([]event.Event, error) {
	m, err := decodeAMMessage(body)
	if err != nil {
		return nil, err
	}
	return m.events(g.Name(), "grafana", now, func(al *amAlert, f map[string]any) {
		f["orgId"] = int(m.OrgID)
		putNonEmpty(f, "title", string(m.Title))
		putNonEmpty(f, "state", string(m.State))
		putNonEmpty(f, "message", string(m.Message))
		putNonEmpty(f, "silenceURL", string(al.SilenceURL))
		putNonEmpty(f, "dashboardURL", string(al.DashboardURL))
		putNonEmpty(f, "panelURL", string(al.PanelURL))
		putNonEmpty(f, "imageURL", string(al.ImageURL))
		putNonEmpty(f, "valueString", string(al.ValueString))
		if len(al.Values) > 0 {
			var v any
			if json.Unmarshal(al.Values, &v) == nil && v != nil {
				f["values"] = v
			}
		}
	})
}

func putNonEmpty(f map[string]any, k, v string) {
	if v != "" {
		f[k] = v
	}
}
