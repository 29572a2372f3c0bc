package sources

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// render is a minimal Mustache for the variables the recommended template
// uses: {{x}} is JSON-string escaped (as Kibana's webhook connector does),
// {{{x}}} is inserted as is, unknown variables are empty.
func render(tmpl string, vars map[string]string) string {
	re := regexp.MustCompile(`\{\{\{?\s*([\w.]+)\s*\}?\}\}`)
	return re.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := re.FindStringSubmatch(m)[1]
		v := vars[name]
		if strings.HasPrefix(m, "{{{") {
			return v
		}
		b, _ := json.Marshal(v)
		return string(b[1 : len(b)-1])
	})
}

// TestKibanaTemplate renders testdata/kibana-body.mustache with the values
// Kibana gives a security detection rule and with those of another rule type
// (whose template has the alerts line dropped), and decodes both.
func TestKibanaTemplate(t *testing.T) {
	tmpl := string(readFile(t, "kibana-body.mustache"))
	var sample struct {
		Alerts json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal(readFile(t, "elastic-kibana-webhook.json"), &sample); err != nil {
		t.Fatal(err)
	}
	security := map[string]string{
		"rule.id": "8c5e1f0a-2b7d-4c3e-9f61-0a1b2c3d4e5f", "rule.name": "Multiple Failed Logins Followed by Success",
		"rule.type": "siem.thresholdRule", "rule.spaceId": "default", "rule.url": `https://kibana.example.internal/app/security/rules/id/8c5e?x="y"`,
		"context.rule.rule_id": "c7e8a1b2-3d4f-5a6b-7c8d-9e0f1a2b3c4d", "context.rule.severity": "high", "context.rule.risk_score": "73",
		"context.rule.description": "Line one\nline \"two\"", "state.signals_count": "1", "date": "2025-03-14T09:31:02.554Z",
		"kibanaBaseUrl": "https://kibana.example.internal", "context.results_link": "https://kibana.example.internal/app/security?a=1&b=2",
		"context.alerts.asJSON": string(sample.Alerts),
	}
	evs, err := Elastic{}.Decode([]byte(render(tmpl, security)), now)
	if err != nil {
		t.Fatalf("security rule: %v\n%s", err, render(tmpl, security))
	}
	if len(evs) != 1 || evs[0].ID != "elastic:5b1d9c0e7f3a2b4c6d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c:firing" || evs[0].SrcIP != "203.0.113.77" || evs[0].Severity != "high" {
		t.Errorf("security rule: %+v", evs)
	}

	other := strings.Replace(tmpl, ",\n  \"alerts\": {{{context.alerts.asJSON}}}", "", 1)
	if other == tmpl {
		t.Fatal("the alerts line moved; update this test and docs/sources.md")
	}
	threshold := map[string]string{
		"rule.id": "1a2b", "rule.name": "Web 5xx", "rule.type": ".index-threshold", "rule.spaceId": "default",
		"alert.id": "web-1", "alert.uuid": "7f3e9c", "alert.actionGroup": "recovered", "date": "2025-03-14T09:40:00.000Z",
	}
	evs, err = Elastic{}.Decode([]byte(render(other, threshold)), now)
	if err != nil {
		t.Fatalf("threshold rule: %v\n%s", err, render(other, threshold))
	}
	if len(evs) != 1 || evs[0].ID != "elastic:7f3e9c:resolved" || evs[0].Name != "Web 5xx" || evs[0].Status != "resolved" {
		t.Errorf("threshold rule: %+v", evs)
	}
}
