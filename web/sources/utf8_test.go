package sources

import (
	"strings"
	"testing"
)

// TestInvalidUTF8IDsStayDistinct: ids holding invalid UTF-8 used to
// collapse (encoding/json reads both \xfe and \xfd as U+FFFD), so the
// second event was refused as a duplicate. Each decoder must give distinct
// ids for distinct raw bytes, and the same id for the same body.
func TestInvalidUTF8IDsStayDistinct(t *testing.T) {
	gen, err := NewGeneric("scanner", GenericConfig{ID: "body.id", Name: "body.title"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dec  Decoder
		body string // ID is replaced by the raw id
	}{
		{Alertmanager{}, `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"2025-03-14T08:00:00Z","fingerprint":"ID"}]}`},
		{Grafana{}, `{"version":"1","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"2025-03-14T08:00:00Z","fingerprint":"ID"}]}`},
		{Falco{}, `{"uuid":"ID","output":"o","priority":"Warning","rule":"r","time":"2025-03-14T08:41:17Z"}`},
		{Wazuh{}, `{"id":"ID","rule":{"level":3,"description":"d","id":"503"},"timestamp":"2025-03-14T09:12:44.671-0300"}`},
		{Graylog{}, `{"event":{"id":"ID","message":"m","timestamp":"2025-03-14T09:12:44.671Z","priority":2}}`},
		{Splunk{}, `{"sid":"ID","search_name":"s","result":{"host":"h"}}`},
		{Azure{}, `{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertId":"ID","alertRule":"r","severity":"Sev2","monitorCondition":"Fired","firedDateTime":"2025-03-14T08:00:00Z"}}}`},
		{gen, `{"id":"ID","title":"t"}`},
	}
	for _, tc := range cases {
		t.Run(tc.dec.Name(), func(t *testing.T) {
			ids := map[string]string{}
			for _, raw := range []string{"u8\xfe", "u8\xfd", "u8\xfe\xfd", "u8\ufffd"} {
				body := []byte(strings.Replace(tc.body, "ID", raw, 1))
				evs, err := tc.dec.Decode(body, now)
				if err != nil {
					t.Fatalf("%q: %v", raw, err)
				}
				if len(evs) != 1 {
					t.Fatalf("%q: %d events", raw, len(evs))
				}
				id := evs[0].ID
				if prev, dup := ids[id]; dup {
					t.Fatalf("ids of %q and %q collapse into %q", prev, raw, id)
				}
				ids[id] = raw
				again, _ := tc.dec.Decode(body, now)
				if again[0].ID != id {
					t.Fatalf("%q: the same body gave ids %q and %q", raw, id, again[0].ID)
				}
			}
		})
	}
}

func TestKeepDistinct(t *testing.T) {
	valid := []byte(`{"a":"b\"c\\","d":"é"}`)
	if got := keepDistinct(valid); &got[0] != &valid[0] {
		t.Fatal("a valid body was copied")
	}
	got := string(keepDistinct([]byte("{\"k\xff\":\"v\\\"\xfe\",\"n\":1}")))
	if !strings.HasPrefix(got, "{\"k\ufffd~") || !strings.Contains(got, "\":\"v\\\"\ufffd~") || !strings.HasSuffix(got, "\",\"n\":1}") {
		t.Fatalf("keepDistinct = %q", got)
	}
}
