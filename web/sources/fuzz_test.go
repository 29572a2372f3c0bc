package sources

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzDecoder checks, whatever the bytes, that d does not panic, that it
// fails only with a *DecodeError, that what it accepts satisfies the event
// invariants, and that decoding is deterministic. The seeds are the test
// bodies whose names start with prefix; the fuzzer's own finds live in
// testdata/fuzz/<FuzzName>/.
func fuzzDecoder(f *testing.F, d Decoder, prefixes ...string) {
	var globs []string
	for _, p := range prefixes {
		globs = append(globs, filepath.Join("testdata", p+"*.json"))
	}
	addSeedFiles(f, globs...)
	for _, s := range commonBadBodies {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := d.Decode(body, now)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			if evs != nil {
				t.Fatalf("%d events returned with an error", len(evs))
			}
			return
		}
		checkInvariants(t, d, evs)
		again, err := d.Decode(body, now)
		if err != nil || len(again) != len(evs) {
			t.Fatalf("second decode differs: %d events, %v", len(again), err)
		}
		for i := range evs {
			if again[i].ID != evs[i].ID {
				t.Fatalf("event %d: ID %q then %q", i, evs[i].ID, again[i].ID)
			}
		}
	})
}

func FuzzAlertmanager(f *testing.F) { fuzzDecoder(f, Alertmanager{}, "alertmanager", "grafana") }
func FuzzGrafana(f *testing.F)      { fuzzDecoder(f, Grafana{}, "grafana", "alertmanager") }
func FuzzFalco(f *testing.F)        { fuzzDecoder(f, Falco{}, "falco") }
func FuzzWazuh(f *testing.F)        { fuzzDecoder(f, Wazuh{}, "wazuh") }
func FuzzElastic(f *testing.F)      { fuzzDecoder(f, Elastic{}, "elastic") }
func FuzzSplunk(f *testing.F)       { fuzzDecoder(f, Splunk{}, "splunk") }
func FuzzGraylog(f *testing.F)      { fuzzDecoder(f, Graylog{}, "graylog") }
func FuzzAzure(f *testing.F)        { fuzzDecoder(f, Azure{}, "azure") }

func FuzzGeneric(f *testing.F) {
	g, err := NewGeneric("generic", GenericConfig{
		Items:      "body.alerts ?? [body]",
		ID:         "item.fingerprint ?? item.uuid",
		Name:       `item.labels?.alertname ?? item.rule ?? "unnamed"`,
		Severity:   "item.labels?.severity ?? item.priority",
		Status:     "item.status",
		StartsAt:   "item.startsAt ?? item.time",
		LabelsFrom: "item.labels",
		Namespace:  `item.labels?.namespace ?? item.output_fields?.["k8s.ns.name"]`,
		Host:       "item.hostname",
		SrcIP:      `item.labels?.src_ip ?? item.output_fields?.["fd.cip"]`,
	})
	if err != nil {
		f.Fatal(err)
	}
	fuzzDecoder(f, g, "alertmanager", "falco")
}

// addSeedFiles adds every file matching the globs to the fuzzer's corpus.
func addSeedFiles(f *testing.F, globs ...string) {
	for _, glob := range globs {
		files, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}
