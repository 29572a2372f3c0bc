package sources

import (
	"reflect"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

func field(t *testing.T, e event.Event, key string, want any) {
	t.Helper()
	got, ok := e.Fields[key]
	if !ok {
		t.Errorf("fields[%q] missing", key)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields[%q] = %#v, want %#v", key, got, want)
	}
}

func TestAlertmanager(t *testing.T) {
	cart := want{ID: "am:5f0c9e1d2a7b3c48:2025-03-14T09:26:53.142Z:firing", Status: "firing", Name: "KubeDeploymentReplicasMismatch", Severity: "critical", Namespace: "shop", Workload: "cart-api", StartsAt: "2025-03-14T09:26:53.142Z"}
	pricing := want{ID: "am:a91b07e4c3d25f60:2025-03-14T09:27:23.142Z:firing", Status: "firing", Name: "KubeDeploymentReplicasMismatch", Severity: "critical", Namespace: "shop", Workload: "pricing-worker", StartsAt: "2025-03-14T09:27:23.142Z"}
	resolved := func(w want) want {
		w.Status = "resolved"
		w.ID = w.ID[:len(w.ID)-len("firing")] + "resolved"
		return w
	}
	runCases(t, Alertmanager{}, []decodeCase{
		{name: "firing group", file: "alertmanager-firing-group.json", want: []want{cart, pricing},
			check: func(t *testing.T, evs []event.Event) {
				if !evs[0].EndsAt.IsZero() {
					t.Errorf("EndsAt %v for a firing alert", evs[0].EndsAt)
				}
				field(t, evs[0], "receiver", "ir-engine")
				if _, ok := evs[0].Fields["truncatedAlerts"]; ok {
					t.Error("truncatedAlerts set when 0")
				}
				if evs[0].Annotations["runbook_url"] == "" || evs[0].Fingerprint != "5f0c9e1d2a7b3c48" {
					t.Errorf("annotations or fingerprint lost: %+v", evs[0])
				}
			}},
		{name: "resolved", file: "alertmanager-resolved.json", want: []want{resolved(cart), resolved(pricing)},
			check: func(t *testing.T, evs []event.Event) {
				if got := evs[0].EndsAt.UTC().Format(time.RFC3339Nano); got != "2025-03-14T09:58:08.142Z" {
					t.Errorf("EndsAt %s", got)
				}
			}},
		{name: "mixed firing and resolved", file: "alertmanager-mixed.json", want: []want{cart, resolved(pricing)}},
		{name: "truncated, v0.34 fields", file: "alertmanager-truncated-v034.json",
			want: []want{
				{ID: "am:0d3e5a7c9b1f2468:2025-06-02T22:14:05.004Z:firing", Status: "firing", Name: "SSHBruteForceSuspected", Severity: "warning", Host: "worker-11", SrcIP: "203.0.113.77", StartsAt: "2025-06-02T22:14:05.004Z"},
				{ID: "am:7be2c4a6f0d81935:2025-06-02T22:14:05.004Z:firing", Status: "firing", Name: "SSHBruteForceSuspected", Severity: "warning", Host: "worker-12", SrcIP: "203.0.113.77", StartsAt: "2025-06-02T22:14:05.004Z"},
			},
			check: func(t *testing.T, evs []event.Event) {
				field(t, evs[0], "truncatedAlerts", 5)
				field(t, evs[0], "notification_reason", "new alerts added")
				field(t, evs[0], "routeLabels", map[string]string{"owner": "secops"})
			}},
		{name: "odd types", file: "alertmanager-odd-types.json",
			want: []want{{ID: "am:a97d13d68a246d9a:2025-03-14T09:26:53.142Z:firing", Status: "firing", Name: "KubeDeploymentReplicasMismatch", Severity: "critical", Namespace: "shop", Workload: "cart-api", StartsAt: "2025-03-14T09:26:53.142Z"}},
			check: func(t *testing.T, evs []event.Event) {
				l := evs[0].Labels
				if l["replicas"] != "3" || l["paging"] != "true" || l["nested"] != `{"k":"v"}` {
					t.Errorf("labels %v", l)
				}
				if _, ok := l["nothing"]; ok {
					t.Error("null label kept")
				}
				field(t, evs[0], "truncatedAlerts", 2)
			}},
		{name: "extra fields", file: "alertmanager-extra-fields.json", want: []want{cart}},
		// Captured from Debian's prometheus-alertmanager 0.25 (amtool alert add, then --end).
		{name: "real 0.25 firing", file: "alertmanager-real-v025-firing.json",
			want: []want{{ID: "am:86a0281bf82940cc:2026-11-29T19:23:53.583067257Z:firing", Status: "firing", Name: "KubePodCrashLooping", Severity: "critical", Namespace: "shop", Workload: "cart-api", Pod: "cart-api-1", StartsAt: "2026-11-29T19:23:53.583067257Z"}}},
		{name: "real 0.25 resolved", file: "alertmanager-real-v025-resolved.json",
			want: []want{{ID: "am:86a0281bf82940cc:2026-11-29T19:23:53.583067257Z:resolved", Status: "resolved", Name: "KubePodCrashLooping", Severity: "critical", Namespace: "shop", Workload: "cart-api", Pod: "cart-api-1", StartsAt: "2026-11-29T19:23:53.583067257Z"}}},
		{name: "group status stands in for a missing alert status",
			body: `{"status":"resolved","alerts":[{"labels":{"alertname":"A"},"startsAt":"2025-03-14T09:00:00Z","fingerprint":"f"}]}`,
			want: []want{{ID: "am:f:2025-03-14T09:00:00Z:resolved", Status: "resolved", Name: "A", Severity: "info", StartsAt: "2025-03-14T09:00:00Z"}}},
		{name: "labels fingerprint is stable", body: `{"alerts":[{"status":"firing","labels":{"b":"2","a":"1"},"startsAt":"2025-03-14T09:00:00Z"}]}`,
			want: []want{{ID: "am:" + labelsFingerprint(map[string]string{"a": "1", "b": "2"}) + ":2025-03-14T09:00:00Z:firing", Status: "firing", Severity: "info", StartsAt: "2025-03-14T09:00:00Z"}}},
		{name: "empty alerts", body: `{"alerts":[]}`, want: []want{}},
		{name: "no alerts", body: `{"status":"firing"}`, errField: "alerts"},
		{name: "alerts not a list", body: `{"alerts":{}}`, errField: "alerts"},
		{name: "bad status", body: `{"alerts":[{"status":"pending","startsAt":"2025-03-14T09:00:00Z"}]}`, errField: "alerts[0].status"},
		{name: "no startsAt", body: `{"alerts":[{"status":"firing"}]}`, errField: "alerts[0].startsAt"},
		{name: "bad startsAt", body: `{"alerts":[{"status":"firing","startsAt":"soon"}]}`, errField: "alerts[0].startsAt"},
		{name: "labels not an object", body: `{"alerts":[{"status":"firing","labels":["a"],"startsAt":"2025-03-14T09:00:00Z"}]}`, errField: "alerts[0].labels"},
		{name: "alert not an object", body: `{"alerts":[3]}`, errField: "alerts[0]"},
		{name: "status an object", body: `{"status":{},"alerts":[]}`, errField: "status"},
		{name: "malformed", body: `{"alerts":[`, errField: "-"},
	})
}

func TestGrafana(t *testing.T) {
	firing := want{ID: "grafana:e1a2b3c4d5f60718:2025-03-14T09:40:10Z:firing", Status: "firing", Name: "HighHTTP5xxRatio", Severity: "critical", Namespace: "shop", StartsAt: "2025-03-14T09:40:10Z"}
	res := firing
	res.ID, res.Status = "grafana:e1a2b3c4d5f60718:2025-03-14T09:40:10Z:resolved", "resolved"
	odd := firing
	odd.ID = "grafana:12345:2025-03-14T09:40:10Z:firing"
	runCases(t, Grafana{}, []decodeCase{
		{name: "firing", file: "grafana-webhook.json", want: []want{firing},
			check: func(t *testing.T, evs []event.Event) {
				e := evs[0]
				field(t, e, "orgId", 1)
				field(t, e, "title", "[FIRING:1] HighHTTP5xxRatio Checkout (shop cart-api critical)")
				field(t, e, "state", "alerting")
				field(t, e, "values", map[string]any{"A": 0.124, "C": float64(1)})
				field(t, e, "silenceURL", "https://grafana.example.internal/alerting/silence/new?alertmanager=grafana&matcher=__alert_rule_uid__%3Dcdx81m2q9vkzkb&matcher=namespace%3Dshop&matcher=service%3Dcart-api&orgId=1")
				if _, ok := e.Fields["dashboardURL"]; ok {
					t.Error("empty dashboardURL kept")
				}
			}},
		{name: "resolved", file: "grafana-resolved.json", want: []want{res},
			check: func(t *testing.T, evs []event.Event) {
				field(t, evs[0], "state", "ok")
				if evs[0].EndsAt.IsZero() {
					t.Error("EndsAt not set")
				}
			}},
		{name: "odd types", file: "grafana-odd-types.json", want: []want{odd},
			check: func(t *testing.T, evs []event.Event) {
				field(t, evs[0], "orgId", 1)
				if _, ok := evs[0].Fields["values"]; ok {
					t.Error("null values kept")
				}
				if evs[0].Labels["replicas"] != "2" {
					t.Errorf("labels %v", evs[0].Labels)
				}
			}},
		{name: "values of another type", body: `{"alerts":[{"status":"firing","startsAt":"2025-03-14T09:40:10Z","fingerprint":"f","values":"A=1"}]}`,
			check: func(t *testing.T, evs []event.Event) { field(t, evs[0], "values", "A=1") }},
		{name: "no alerts", body: `{"title":"x"}`, errField: "alerts"},
		{name: "orgId not a number", body: `{"orgId":"one","alerts":[]}`, errField: "orgId"},
	})
}

func TestFalco(t *testing.T) {
	runCases(t, Falco{}, []decodeCase{
		{name: "falcosidekick", file: "falco-falcosidekick-webhook.json",
			want: []want{{ID: "falco:3f1c6b0e-8a2d-4b7e-9c1a-5d2e7f9a0b14", Status: "firing", Name: "Unexpected outbound connection destination", Severity: "warning", Namespace: "shop", Pod: "cart-api-6d8f9c7b5-x2lkq", Host: "worker-07", SrcIP: "10.42.3.17", DstIP: "198.51.100.23", User: "root", StartsAt: "2025-03-14T08:41:17.312645021Z"}},
			check: func(t *testing.T, evs []event.Event) {
				e := evs[0]
				field(t, e, "proc.name", "curl")
				field(t, e, "k8s.ns.name", "shop")
				field(t, e, "fd.sport", int64(80))
				field(t, e, "evt.time", int64(1741941677312645021))
				field(t, e, "tags", []any{"container", "network", "mitre_command_and_control", "T1071"})
				if e.Labels["priority"] != "Notice" || e.Annotations["output"] == "" {
					t.Errorf("labels %v annotations %v", e.Labels, e.Annotations)
				}
			}},
		{name: "inbound, deployment, extra fields", file: "falco-inbound-extra-fields.json",
			want: []want{{ID: "falco:a0b1c2d3-0000-4000-8000-000000000001", Status: "firing", Name: "Unexpected outbound connection destination", Severity: "critical", Namespace: "shop", Workload: "cart-api", Pod: "cart-api-6d8f9c7b5-x2lkq", Host: "worker-07", SrcIP: "203.0.113.9", DstIP: "10.42.3.17", User: "root", StartsAt: "2025-03-14T08:41:17.312645021Z"}}},
		{name: "outbound by remote and local", body: `{"rule":"r","priority":"Error","output_fields":{"evt.type":"connect","fd.rip":"198.51.100.1","fd.lip":"10.0.0.2"}}`,
			want: []want{{ID: BodyHash("falco", []byte(`{"rule":"r","priority":"Error","output_fields":{"evt.type":"connect","fd.rip":"198.51.100.1","fd.lip":"10.0.0.2"}}`)), Status: "firing", Name: "r", Severity: "high", SrcIP: "10.0.0.2", DstIP: "198.51.100.1", StartsAt: "2025-03-14T10:00:00Z"}}},
		{name: "minimal, no uuid", file: "falco-minimal.json",
			want: []want{{ID: BodyHash("falco", readFile(t, "falco-minimal.json")), Status: "firing", Name: "Terminal shell in container", Severity: "warning", Namespace: "shop", StartsAt: "2025-03-14T08:41:17Z"}}},
		{name: "odd types", file: "falco-odd-types.json",
			want: []want{{ID: BodyHash("falco", readFile(t, "falco-odd-types.json")), Status: "firing", Name: "Unexpected outbound connection destination", Severity: "high", Namespace: "shop", Pod: "cart-api-6d8f9c7b5-x2lkq", SrcIP: "10.42.3.17", User: "0", StartsAt: "2025-03-14T08:41:17.312645021Z"}}},
		{name: "time from evt.time", body: `{"uuid":"u","rule":"r","priority":"Debug","output_fields":{"evt.time":1741941677312645021}}`,
			want: []want{{ID: "falco:u", Status: "firing", Name: "r", Severity: "info", StartsAt: "2025-03-14T08:41:17.312645021Z"}}},
		{name: "no rule", body: `{"uuid":"u","priority":"Notice"}`, errField: "rule"},
		{name: "output_fields a string", body: `{"rule":"r","output_fields":"x"}`, errField: "output_fields"},
		{name: "bad time", body: `{"rule":"r","time":"later"}`, errField: "time"},
	})
	for p, want := range map[string]string{"Emergency": "critical", "Alert": "critical", "Critical": "critical", "Error": "high", "Warning": "warning", "Notice": "warning", "Informational": "info", "Info": "info", "Debug": "info", "0": "critical", "4": "warning", "9": "info", "": "info"} {
		if got := falcoSeverity(p); got != want {
			t.Errorf("falcoSeverity(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestWazuh(t *testing.T) {
	brute := want{ID: "wazuh:1741943564.4815162", Status: "firing", Name: "sshd: brute force trying to get access to the system. Authentication failed.", Severity: "high", Host: "bastion-01", SrcIP: "203.0.113.77", User: "admin", StartsAt: "2025-03-14T09:12:44.671Z"}
	oddW := brute
	oddW.Severity, oddW.Host, oddW.SrcIP = "critical", "fw-edge-1", ""
	runCases(t, Wazuh{}, []decodeCase{
		{name: "alert", file: "wazuh-alert.json", want: []want{brute},
			check: func(t *testing.T, evs []event.Event) {
				e := evs[0]
				if lookup(e.Fields, "data.srcip") != "203.0.113.77" || lookup(e.Fields, "rule.id") != "5763" {
					t.Errorf("fields %v", e.Fields)
				}
				if e.Labels["rule_id"] != "5763" || e.Labels["level"] != "10" || e.Labels["agent"] != "bastion-01" {
					t.Errorf("labels %v", e.Labels)
				}
			}},
		{name: "shuffle integration", file: "wazuh-shuffle-integration.json", want: []want{brute}},
		{name: "odd types, manager as agent", file: "wazuh-odd-types.json", want: []want{oddW}},
		{name: "minimal, no id, other offset", file: "wazuh-minimal.json",
			want: []want{{ID: BodyHash("wazuh", readFile(t, "wazuh-minimal.json")), Status: "firing", Name: "Wazuh agent started.", Severity: "info", Host: "web-3", StartsAt: "2025-03-14T12:12:44.671Z"}}},
		{name: "no rule", body: `{"id":"1","timestamp":"2025-03-14T09:12:44.671+0000"}`, errField: "rule"},
		{name: "rule not an object", body: `{"rule":"5763"}`, errField: "rule"},
		{name: "rule without name or id", body: `{"rule":{"level":3}}`, errField: "rule.description"},
		{name: "level not a number", body: `{"rule":{"id":"1","level":"high"}}`, errField: "rule.level"},
		{name: "bad timestamp", body: `{"rule":{"id":"1"},"timestamp":"14/03/2025"}`, errField: "timestamp"},
		{name: "shuffle with bad all_fields", body: `{"all_fields":"x"}`, errField: "all_fields"},
		{name: "shuffle without rule", body: `{"title":"t","all_fields":{}}`, errField: "all_fields.rule"},
	})
	for _, tt := range []struct {
		level float64
		want  string
	}{{0, "info"}, {4, "info"}, {5, "warning"}, {7, "warning"}, {8, "high"}, {11, "high"}, {12, "critical"}, {15, "critical"}} {
		if got := wazuhSeverity(tt.level, true, ""); got != tt.want {
			t.Errorf("level %v: got %s, want %s", tt.level, got, tt.want)
		}
	}
	if got := wazuhSeverity(0, false, "3"); got != "high" {
		t.Errorf("shuffle severity 3: got %s", got)
	}
}

func TestElastic(t *testing.T) {
	sec := want{ID: "elastic:5b1d9c0e7f3a2b4c6d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c:firing", Status: "firing", Name: "Multiple Failed Logins Followed by Success", Severity: "high", Host: "vpn-gw-01", SrcIP: "203.0.113.77", User: "j.doe", StartsAt: "2025-03-14T09:30:47.118Z"}
	runCases(t, Elastic{}, []decodeCase{
		{name: "security alert", file: "elastic-kibana-webhook.json", want: []want{sec},
			check: func(t *testing.T, evs []event.Event) {
				e := evs[0]
				if lookup(e.Fields, "rule.risk_score") != int64(73) || lookup(e.Fields, "alert.kibana.alert.workflow_status") != "open" {
					t.Errorf("fields %v", e.Fields)
				}
				if e.Labels["rule_id"] != "c7e8a1b2-3d4f-5a6b-7c8d-9e0f1a2b3c4d" || e.Annotations["reason"] == "" {
					t.Errorf("labels %v annotations %v", e.Labels, e.Annotations)
				}
			}},
		{name: "flattened and recovered", file: "elastic-flattened-two-alerts.json", want: []want{sec,
			{ID: "elastic:flat-uuid-1:resolved", Status: "resolved", Name: "Flattened rule", Severity: "warning", Namespace: "payments", Pod: "pay-0", Host: "db-1", SrcIP: "198.51.100.5", DstIP: "10.0.0.5", User: "svc", StartsAt: "2025-03-14T09:31:01.902Z"}}},
		{name: "rule without alerts", file: "elastic-no-alerts.json",
			want: []want{{ID: "elastic:9d1f:resolved", Status: "resolved", Name: "Multiple Failed Logins Followed by Success", Severity: "critical", StartsAt: "2025-03-14T09:31:02.554Z"}}},
		{name: "empty alerts, no alert uuid", body: `{"rule":{"name":"R","severity":"low"},"alerts":[],"date":"2025-03-14T09:31:02.554Z"}`,
			want: []want{{ID: BodyHash("elastic", []byte(`{"rule":{"name":"R","severity":"low"},"alerts":[],"date":"2025-03-14T09:31:02.554Z"}`)), Status: "firing", Name: "R", Severity: "info", StartsAt: "2025-03-14T09:31:02.554Z"}}},
		{name: "template rendered for a non-security rule, alerts line removed",
			body: `{"source":"kibana","rule":{"id":"1a2b","name":"Web 5xx","type":".index-threshold","space_id":"default","url":"","rule_id":"","severity":"","risk_score":"","description":""},
				"alert":{"id":"web-1","uuid":"7f3e","action_group":"threshold met"},"signals_count":"","date":"2025-03-14T09:31:02.554Z","kibana_base_url":"","results_link":""}`,
			want: []want{{ID: "elastic:7f3e:firing", Status: "firing", Name: "Web 5xx", Severity: "info", StartsAt: "2025-03-14T09:31:02.554Z"}}},
		{name: "alerts rendered as a string", body: `{"rule":{"name":"R"},"alerts":"[object Object]"}`, errField: "alerts"},
		{name: "alert not an object", body: `{"rule":{"name":"R"},"alerts":[1]}`, errField: "alerts[0]"},
		{name: "bad alert time", body: `{"rule":{"name":"R"},"alerts":[{"@timestamp":"x"}]}`, errField: "alerts[0].@timestamp"},
		{name: "nothing", body: `{"source":"elastic-security"}`, errField: "rule"},
		{name: "rule a string", body: `{"rule":"R"}`, errField: "rule"},
		{name: "bad date", body: `{"rule":{"name":"R"},"date":"{{date}}"}`, errField: "date"},
	})
}

func TestSplunk(t *testing.T) {
	sid := "scheduler__admin__search__RMD5c0ffee1234567890_at_1741944000_8812"
	runCases(t, Splunk{}, []decodeCase{
		{name: "alert action", file: "splunk-webhook.json",
			want: []want{{ID: "splunk:" + sid + ":7fe095920c759774", Status: "firing", Name: "VPN - Excessive Failed Logins", Severity: "high", Host: "vpn-gw-01", SrcIP: "203.0.113.77", User: "j.doe", StartsAt: "2025-03-14T09:20:00Z"}},
			check: func(t *testing.T, evs []event.Event) {
				if lookup(evs[0].Fields, "result.count") != "57" || evs[0].Fields["sid"] != sid {
					t.Errorf("fields %v", evs[0].Fields)
				}
			}},
		{name: "odd types", file: "splunk-odd-types.json",
			want: []want{{ID: "splunk:" + sid + ":958066acfc3ec909", Status: "firing", Name: "VPN - Excessive Failed Logins", Severity: "critical", Host: "edge-2", SrcIP: "198.51.100.8", DstIP: "10.1.1.1", User: "1001", StartsAt: "2025-03-14T09:20:00.5Z"}}},
		{name: "minimal", file: "splunk-minimal.json",
			want: []want{{ID: BodyHash("splunk", readFile(t, "splunk-minimal.json")), Status: "firing", Name: "Minimal", Severity: "info", StartsAt: "2025-03-14T10:00:00Z"}}},
		{name: "no search name", body: `{"sid":"1","result":{}}`, errField: "search_name"},
		{name: "result a list", body: `{"search_name":"s","result":[]}`, errField: "result"},
		{name: "bad _time", body: `{"search_name":"s","result":{"_time":"noon"}}`, errField: "result._time"},
	})
}

func TestGraylog(t *testing.T) {
	runCases(t, Graylog{}, []decodeCase{
		{name: "notification", file: "graylog-http-notification.json",
			want: []want{{ID: "graylog:01JPB7K2M4Q8R6S0T2V4W6X8Y0", Status: "firing", Name: "SSH brute force from single source", Severity: "high", Host: "bastion-01", SrcIP: "203.0.113.77", User: "admin", StartsAt: "2025-03-14T09:15:00Z"}},
			check: func(t *testing.T, evs []event.Event) {
				if lookup(evs[0].Fields, "event.key") != "203.0.113.77" || len(evs[0].Fields["backlog"].([]any)) != 1 {
					t.Errorf("fields %v", evs[0].Fields)
				}
			}},
		{name: "odd types, entities from the backlog", file: "graylog-odd-types.json",
			want: []want{{ID: BodyHash("graylog", readFile(t, "graylog-odd-types.json")), Status: "firing", Name: "SSH brute force from single source", Severity: "critical", Host: "bastion-01", SrcIP: "203.0.113.77", User: "admin", StartsAt: "2025-03-14T09:15:00Z"}}},
		{name: "no event", body: `{"event_definition_title":"t"}`, errField: "event"},
		{name: "event a string", body: `{"event":"e"}`, errField: "event"},
		{name: "no name", body: `{"event":{"id":"1"}}`, errField: "event_definition_title"},
		{name: "bad timestamp", body: `{"event_definition_title":"t","event":{"timestamp":"x"}}`, errField: "event.timestamp"},
	})
}

func TestAzure(t *testing.T) {
	id := "/subscriptions/00000000-1111-2222-3333-444444444444/providers/Microsoft.AlertsManagement/alerts/6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	fired := want{ID: "azure:" + id + ":firing", Status: "firing", Name: "Sentinel-Workspace - Suspicious sign-ins from TOR exit nodes", Severity: "high", SrcIP: "198.51.100.99", User: "j.doe@example.com", StartsAt: "2025-03-14T09:45:12.0412835Z"}
	res := fired
	res.ID, res.Status = "azure:"+id+":resolved", "resolved"
	runCases(t, Azure{}, []decodeCase{
		{name: "log alert", file: "azure-monitor-common-alert.json", want: []want{fired},
			check: func(t *testing.T, evs []event.Event) {
				if evs[0].Labels["IPAddress"] != "198.51.100.99" || evs[0].Labels["signal_type"] != "Log" {
					t.Errorf("labels %v", evs[0].Labels)
				}
			}},
		{name: "resolved", file: "azure-resolved.json", want: []want{res},
			check: func(t *testing.T, evs []event.Event) {
				if got := evs[0].EndsAt.UTC().Format(time.RFC3339Nano); got != "2025-03-14T10:15:00.1234567Z" {
					t.Errorf("EndsAt %s", got)
				}
				if evs[0].Labels["team"] != "secops" || evs[0].Labels["tier"] != "1" {
					t.Errorf("labels %v", evs[0].Labels)
				}
			}},
		{name: "metric alert on a VM", file: "azure-metric-vm.json",
			want: []want{{ID: "azure:/x/alerts/1:firing", Status: "firing", Name: "cpu high", Severity: "critical", Host: "vm-7", StartsAt: "2025-03-14T09:45:12Z"}}},
		{name: "no essentials", body: `{"data":{}}`, errField: "data.essentials"},
		{name: "no rule", body: `{"data":{"essentials":{"alertId":"a"}}}`, errField: "data.essentials.alertRule"},
		{name: "bad fired time", body: `{"data":{"essentials":{"alertRule":"r","firedDateTime":"x"}}}`, errField: "data.essentials.firedDateTime"},
	})
	for in, want := range map[string]string{"Sev0": "critical", "Sev1": "high", "Sev2": "warning", "Sev3": "info", "Sev4": "info", "": "info"} {
		if got := azureSeverity(in); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}
