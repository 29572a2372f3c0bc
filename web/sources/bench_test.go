package sources

import "testing"

// BenchmarkDecode measures each built-in decoder on its shared sample.
func BenchmarkDecode(b *testing.B) {
	samples := map[string]string{
		"alertmanager": "alertmanager-firing-group.json",
		"grafana":      "grafana-webhook.json",
		"falco":        "falco-falcosidekick-webhook.json",
		"wazuh":        "wazuh-alert.json",
		"elastic":      "elastic-kibana-webhook.json",
		"splunk":       "splunk-webhook.json",
		"graylog":      "graylog-http-notification.json",
		"azure":        "azure-monitor-common-alert.json",
	}
	for name, d := range Builtin() {
		body := readFile(b, samples[name])
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := d.Decode(body, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
