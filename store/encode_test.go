package store

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// checkAppendEvent fails the test unless appendEventOpen writes ev exactly
// as json.Marshal does, or declines (ok false) where json.Marshal fails.
func checkAppendEvent(t *testing.T, ev event.Event) {
	t.Helper()
	ev.Raw = nil
	want, werr := json.Marshal(&ev)
	got, ok := appendEventOpen(nil, &ev)
	if !ok {
		if werr == nil {
			t.Fatalf("appendEventOpen declined an event json.Marshal encodes:\n%s", want)
		}
		return
	}
	if werr != nil {
		t.Fatalf("appendEventOpen encoded an event json.Marshal refuses (%v):\n%s}", werr, got)
	}
	got = append(got, '}')
	if !bytes.Equal(got, want) {
		t.Fatalf("appendEventOpen differs from json.Marshal:\n got %s\nwant %s", got, want)
	}
}

func TestAppendEventMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	for name, ev := range map[string]event.Event{
		"zero": {},
		"alert": {
			ID: "am:c8a1f00d2b3e4f51:2026-11-29T10:00:00Z:firing", Source: "alertmanager", Status: "firing",
			Name: "KubePodCrashLooping", Severity: "critical", Fingerprint: "c8a1f00d2b3e4f51",
			Labels:      map[string]string{"namespace": "shop", "alertname": "KubePodCrashLooping", "pod": "cart-api-7d9c"},
			Annotations: map[string]string{"summary": "pod is crash looping"},
			Namespace:   "shop", Workload: "Deployment/cart-api", Pod: "cart-api-7d9c",
			StartsAt: at, ReceivedAt: at.Add(time.Second), Stale: true,
		},
		"escapes": {
			ID: "<script>&\"\\\x00\x01\x1f\b\f\n\r\t", Name: "\u2028\u2029 é ✓ 😀", Severity: "bad \xff\xfe utf8 \xe2\x82",
			Labels: map[string]string{"<k>": "&v", "": "empty key", "\xff": "x"},
		},
		"fields": {
			ID:     "falco:1",
			Fields: map[string]any{"fd.sport": 80.0, "proc.cmdline": "curl <x> & y", "tags": []any{"a", nil, true}, "nested": map[string]any{"z": 1.5, "a": "b"}},
		},
		"zone":      {ID: "z", StartsAt: at.In(time.FixedZone("", 5*3600+30*60)), EndsAt: at.In(time.FixedZone("", -8*3600))},
		"bad year":  {ID: "y", StartsAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"bad field": {ID: "f", Fields: map[string]any{"ch": make(chan int)}},
		"nan":       {ID: "n", Fields: map[string]any{"x": math.NaN()}},
		"numbers": {ID: "num", Fields: map[string]any{
			"tiny": 1e-7, "small": 1e-6, "big": 1e21, "below big": 1e20, "neg": -0.0, "frac": 0.1, "huge": -1.7976931348623157e308,
			"int": 42, "int64": int64(-7), "uint": uint(7), "number": json.Number("12.50"), "float32": float32(0.1),
		}},
		"values": {ID: "v", Fields: map[string]any{
			"nil": nil, "nil list": []any(nil), "nil map": map[string]any(nil), "nil labels": map[string]string(nil),
			"labels": map[string]string{"b": "1", "a": "<2>"}, "empty labels": map[string]string{}, "empty list": []any{},
			"deep": map[string]any{"l": []any{map[string]any{"k": []any{1.5, "s", nil}}}}, "strings": []string{"x", "y"},
		}},
		"empty maps": {ID: "m", Labels: map[string]string{}, Annotations: map[string]string{}, Fields: map[string]any{}},
	} {
		t.Run(name, func(t *testing.T) { checkAppendEvent(t, ev) })
	}
}

// Every field of event.Event is written: a field added to the event and
// not to appendEventOpen would otherwise vanish from the inbox unnoticed.
func TestAppendEventCoversEveryField(t *testing.T) {
	var ev event.Event
	v := reflect.ValueOf(&ev).Elem()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if sf.Name == "Raw" {
			continue // the body is appended apart (appendMember)
		}
		switch f.Interface().(type) {
		case string:
			f.SetString(sf.Name + " <value>")
		case bool:
			f.SetBool(true)
		case time.Time:
			f.Set(reflect.ValueOf(time.Date(2026, 11, 29, 10, 0, i, 0, time.UTC)))
		case map[string]string:
			f.Set(reflect.ValueOf(map[string]string{sf.Name: "v"}))
		case map[string]any:
			f.Set(reflect.ValueOf(map[string]any{sf.Name: 1.5}))
		default:
			t.Fatalf("event.Event.%s has type %s, which this test cannot fill: add it here and to appendEventOpen", sf.Name, sf.Type)
		}
	}
	checkAppendEvent(t, ev)
}

// AppendEvents falls back to json.Marshal where appendEventOpen declines,
// and reports what json.Marshal refuses.
func TestAppendEventsFallsBackToMarshal(t *testing.T) {
	var lastRaw []byte
	ev := event.Event{ID: "f", Fields: map[string]any{"n": 1}, StartsAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := encodeOpen(&ev, false, &lastRaw); err == nil {
		t.Error("an event json.Marshal refuses was encoded")
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("am:1", "KubePodCrashLooping", "namespace", "shop", "<b>&\u2028", int64(1764410400), int64(5), int16(0), true, 80.0)
	f.Add("\xff\x00", "", "", "", "", int64(-62135596800), int64(0), int16(-720), false, 1e-7)
	f.Add("id", "n", "k", "v", "a", int64(253402300800), int64(999999999), int16(90), false, 1e21)
	f.Fuzz(func(t *testing.T, id, name, key, val, text string, sec, nsec int64, offMin int16, stale bool, num float64) {
		at := time.Unix(sec, nsec).In(time.FixedZone("", int(offMin)*60))
		ev := event.Event{
			ID: id, Source: "fuzz", Status: text, Name: name, Severity: val,
			Fingerprint: key, Namespace: text, User: id, SrcIP: val,
			Labels:   map[string]string{key: val, val: key, "name": name},
			StartsAt: at, EndsAt: at.Add(time.Duration(nsec)), ReceivedAt: at.Add(-time.Hour),
			Stale: stale,
		}
		if len(text)%2 == 0 {
			ev.Annotations = map[string]string{text: id}
			ev.Fields = map[string]any{key: text, "n": float64(sec), "x": num, "list": []any{name, stale, num, nil},
				"m": map[string]any{val: num, key: map[string]string{text: name}}, "i": int(nsec)}
		}
		checkAppendEvent(t, ev)
	})
}

// BenchmarkEncodeEvent compares appendEventOpen with json.Marshal, its
// baseline, on an event as the Alertmanager decoder makes it.
func BenchmarkEncodeEvent(b *testing.B) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	ev := event.Event{
		ID: "am:c8a1f00d2b3e4f51:2026-11-29T10:00:00.123456789Z:firing", Source: "alertmanager", Status: "firing",
		Name: "KubePodCrashLooping", Severity: "critical", Fingerprint: "c8a1f00d2b3e4f51",
		Labels:      map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "cart-api", "pod": "cart-api-7d9c-1", "severity": "critical"},
		Annotations: map[string]string{"summary": "pod is crash looping", "description": "Pod shop/cart-api is restarting 3 times / 5 minutes."},
		Namespace:   "shop", Workload: "Deployment/cart-api", Pod: "cart-api-7d9c-1",
		StartsAt: at, ReceivedAt: at,
		Fields: map[string]any{
			"receiver": "firebreak", "groupKey": `{}:{alertname="KubePodCrashLooping"}`, "externalURL": "http://alertmanager:9093",
			"generatorURL": "http://prometheus.example/graph?g0.expr=x", "groupLabels": map[string]string{"alertname": "KubePodCrashLooping"},
		},
	}
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendEventOpen", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := appendEventOpen(make([]byte, 0, 1024), &ev); !ok {
				b.Fatal("declined")
			}
		}
	})
}
