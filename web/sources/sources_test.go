package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var now = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)

// want is the part of an event a case pins down.
type want struct {
	ID, Status, Name, Severity                         string
	Namespace, Workload, Pod, Host, SrcIP, DstIP, User string
	StartsAt                                           string
}

func project(e event.Event) want {
	return want{
		ID: e.ID, Status: e.Status, Name: e.Name, Severity: e.Severity,
		Namespace: e.Namespace, Workload: e.Workload, Pod: e.Pod, Host: e.Host,
		SrcIP: e.SrcIP, DstIP: e.DstIP, User: e.User,
		StartsAt: e.StartsAt.UTC().Format(time.RFC3339Nano),
	}
}

type decodeCase struct {
	name string
	file string // under testdata/; body is used when empty
	body string
	// errField, when set, expects a *DecodeError naming this field ("" field
	// is written as "-").
	errField string
	want     []want
	check    func(t *testing.T, evs []event.Event)
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runCases(t *testing.T, d Decoder, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if tc.file != "" {
				body = readFile(t, tc.file)
			}
			evs, err := d.Decode(body, now)
			if tc.errField != "" {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("got %v (%T), want a *DecodeError", err, err)
				}
				if f := orDash(de.Field); f != tc.errField {
					t.Fatalf("error field %q (%v), want %q", f, err, tc.errField)
				}
				if evs != nil {
					t.Errorf("events returned with the error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkInvariants(t, d, evs)
			got := make([]want, len(evs))
			for i, e := range evs {
				got[i] = project(e)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, evs)
			}
			// Decoding is deterministic: a redelivery gets the same events.
			again, err := d.Decode(body, now.Add(time.Minute))
			if err != nil || len(again) != len(evs) {
				t.Fatalf("second decode: %d events, %v", len(again), err)
			}
			for i := range evs {
				if again[i].ID != evs[i].ID {
					t.Errorf("event %d: ID %q then %q", i, evs[i].ID, again[i].ID)
				}
			}
			if tc.file != "" {
				golden(t, d.Name(), tc.file, evs)
			}
		})
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// checkInvariants holds for every event of every decoder.
func checkInvariants(t testing.TB, d Decoder, evs []event.Event) {
	t.Helper()
	// Two events of one body may share an ID only when the sender sent the
	// same alert twice (an identical document, a repeated fingerprint).
	for i, e := range evs {
		if e.ID == "" {
			t.Errorf("event %d: empty ID", i)
		}
		if e.Source != d.Name() {
			t.Errorf("event %d: source %q, want %q", i, e.Source, d.Name())
		}
		if e.Status != event.StatusFiring && e.Status != event.StatusResolved {
			t.Errorf("event %d: status %q", i, e.Status)
		}
		switch e.Severity {
		case event.SeverityCritical, event.SeverityHigh, event.SeverityWarning, event.SeverityInfo:
		default:
			t.Errorf("event %d: severity %q", i, e.Severity)
		}
		if e.StartsAt.IsZero() {
			t.Errorf("event %d: zero StartsAt", i)
		}
		if e.ReceivedAt.IsZero() {
			t.Errorf("event %d: zero ReceivedAt", i)
		}
		for name, ip := range map[string]string{"src_ip": e.SrcIP, "dst_ip": e.DstIP} {
			if ip != "" && !isIP(ip) {
				t.Errorf("event %d: %s %q is not an IP", i, name, ip)
			}
		}
	}
}

// golden compares the full events with testdata/golden/<source>/<file>;
// go test -update rewrites them.
func golden(t *testing.T, source, file string, evs []event.Event) {
	t.Helper()
	got, err := json.MarshalIndent(evs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", source, file)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantB, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, wantB) {
		t.Errorf("events differ from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestBuiltin(t *testing.T) {
	b := Builtin()
	names := []string{"alertmanager", "grafana", "falco", "wazuh", "elastic", "splunk", "graylog", "azure"}
	if len(b) != len(names) {
		t.Errorf("%d built-ins, want %d", len(b), len(names))
	}
	for _, n := range names {
		d, ok := b[n]
		if !ok {
			t.Errorf("%s missing", n)
			continue
		}
		if d.Name() != n {
			t.Errorf("%s: Name() = %q", n, d.Name())
		}
	}
	// Each call is a fresh map.
	delete(b, "falco")
	if _, ok := Builtin()["falco"]; !ok {
		t.Error("Builtin shares its map")
	}
}

// commonBadBodies are refused by every built-in decoder with a *DecodeError.
var commonBadBodies = map[string]string{
	"empty":      "",
	"not JSON":   "alerts: []",
	"truncated":  `{"alerts": [`,
	"trailing":   `{"alerts": [], "rule": {}, "event": {}, "data": {}} {}`,
	"array":      `[]`,
	"string":     `"hello"`,
	"null":       `null`,
	"number":     `42`,
	"empty obj":  `{}`,
	"deep":       strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100),
	"wrong type": `{"alerts": 1, "rule": {}, "event": 1, "data": 1, "search_name": {}, "all_fields": 1}`,
}

func TestBuiltinRefuseGarbage(t *testing.T) {
	for name, d := range Builtin() {
		for what, body := range commonBadBodies {
			evs, err := d.Decode([]byte(body), now)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Errorf("%s, %s: got %d events, err %v; want a *DecodeError", name, what, len(evs), err)
			}
		}
	}
}

func TestDecodeErrorText(t *testing.T) {
	if got := (&DecodeError{Field: "alerts[0].status", Msg: "missing"}).Error(); got != "alerts[0].status: missing" {
		t.Errorf("got %q", got)
	}
	if got := (&DecodeError{Msg: "malformed JSON"}).Error(); got != "malformed JSON" {
		t.Errorf("got %q", got)
	}
}

func TestBodyHash(t *testing.T) {
	a := BodyHash("falco", []byte("x"))
	if a != BodyHash("falco", []byte("x")) {
		t.Error("not stable")
	}
	if a == BodyHash("wazuh", []byte("x")) || a == BodyHash("falco", []byte("y")) {
		t.Error("collides across source or body")
	}
	if !strings.HasPrefix(a, "falco:") || len(a) != len("falco:")+32 {
		t.Errorf("shape %q", a)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2025-03-14T09:12:44.671+0000", "2025-03-14T09:12:44.671Z"},
		{"2025-03-14T09:12:44.671-0300", "2025-03-14T12:12:44.671Z"},
		{"2025-03-14T09:12:44Z", "2025-03-14T09:12:44Z"},
		{"2025-03-14T09:12:44.0412835Z", "2025-03-14T09:12:44.0412835Z"},
		{"2025-03-14T10:12:44+01:00", "2025-03-14T09:12:44Z"},
		{"2025-03-14 09:12:44", "2025-03-14T09:12:44Z"},
		{"1741944000", "2025-03-14T09:20:00Z"},
		{"1741944000.5", "2025-03-14T09:20:00.5Z"},
		{"1741944000123", "2025-03-14T09:20:00.123Z"},
		{"1741941677312645021", "2025-03-14T08:41:17.312645021Z"},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if s := got.UTC().Format(time.RFC3339Nano); s != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, s, tt.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2025-13-01T00:00:00Z", "-5", "NaN", "1e400"} {
		if _, err := parseTime(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestLookup(t *testing.T) {
	m := map[string]any{
		"k8s.ns.name": "flat",
		"kibana":      map[string]any{"alert": map[string]any{"uuid": "nested"}},
		"host":        map[string]any{"name": "h"},
		"host.ip":     "10.0.0.1",
		"a":           map[string]any{"b.c": map[string]any{"d": "mixed"}},
	}
	for path, want := range map[string]any{
		"k8s.ns.name":       "flat",
		"kibana.alert.uuid": "nested",
		"host.name":         "h",
		"host.ip":           "10.0.0.1",
		"a.b.c.d":           "mixed",
		"a.b":               nil,
		"nope.nope":         nil,
	} {
		if got := lookup(m, path); got != want {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
}

func TestMapSeverity(t *testing.T) {
	for in, want := range map[string]string{
		"critical": "critical", " CRIT ": "critical", "page": "critical",
		"high": "high", "error": "high", "major": "high",
		"warning": "warning", "medium": "warning", "minor": "warning",
		"info": "info", "low": "info", "none": "info", "": "info", "banana": "info",
	} {
		if got := mapSeverity(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
