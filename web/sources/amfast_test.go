package sources

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzAlertmanagerFastPath checks that the strict fast path of the
// Alertmanager and Grafana decoder reads every body it accepts exactly as
// the lenient decoder does, so the fast path changes speed and nothing else.
func FuzzAlertmanagerFastPath(f *testing.F) {
	addSeedFiles(f, "testdata/alertmanager*.json", "testdata/grafana*.json")
	for _, s := range []string{
		`{"alerts":[{"status":"firing","labels":{"a":"x\u00e9\"y"},"startsAt":"2024-05-01T10:00:00+02:00"}]}`,
		`{"alerts":[{"status":"firing","labels":{"a":1},"startsAt":"2024-05-01T10:00:00Z"}]}`,
		`{"alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"2024-05-01T24:00:00Z"}]}`,
		`{"alerts":[{"status":"firing","startsAt":" 2024-05-01T10:00:00Z"}]}`,
		`{"alerts":[{"status":"firing","startsAt":1714557600}]}`,
		`{"truncatedAlerts":-2147483648,"alerts":[]}`,
		`{"truncatedAlerts":2147483647,"orgId":-5,"alerts":[]}`,
		`{"ALERTS":[{"Status":"resolved","LABELS":{"a":"b"},"startsat":"2024-05-01T10:00:00.123456789Z"}]}`,
		`{"alerts":[],"alerts":[{"status":"firing"}]}`,
		`{"alerts":[{"values":{"B":1.5},"valueString":"[ var='B' value=1.5 ]"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := decodeAMStrict(body)
		if !ok {
			return
		}
		slow, err := decodeAMLenient(body)
		if err != nil {
			t.Fatalf("fast path accepted a body the lenient decoder refuses (%v): %s", err, body)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast path read\n%+v\nthe lenient decoder read\n%+v\nbody: %s", fast, slow, body)
		}
	})
}

// The fast path must take the common payloads (or it speeds nothing up) and
// leave the odd ones to the lenient decoder.
func TestAlertmanagerFastPathTakesTypicalBodies(t *testing.T) {
	for file, want := range map[string]bool{
		"alertmanager-firing-group.json":     true,
		"alertmanager-real-v025-firing.json": true,
		"grafana-webhook.json":               true,
		"alertmanager-odd-types.json":        false,
		"grafana-odd-types.json":             false,
	} {
		body, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodeAMStrict(body); ok != want {
			t.Errorf("%s: fast path taken = %v, want %v", file, ok, want)
		}
	}
	offset := []byte(`{"alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"2024-05-01T10:00:00+02:00"}]}`)
	fast, ok := decodeAMStrict(offset)
	slow, err := decodeAMLenient(offset)
	if !ok || err != nil || !reflect.DeepEqual(fast, slow) {
		t.Errorf("zone offset: fast %v (%+v), lenient %v (%+v)", ok, fast, err, slow)
	}
}
