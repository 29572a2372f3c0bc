package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
)

// encodeEvent must store what json.Marshal would, read back the same way.
func TestEncodeEventMatchesMarshal(t *testing.T) {
	body := []byte("{\n  \"alerts\": [ {\"x\": 1}, {\"x\": 2} ]\n}\n")
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	evs := []event.Event{
		{ID: "a", Source: "alertmanager", Labels: map[string]string{"k": "v"}, StartsAt: at, Raw: body},
		{ID: "b", Source: "alertmanager", Fields: map[string]any{"n": 1.5}, StartsAt: at, Raw: body},
		{ID: "c", Source: "test"},
	}
	var last []byte
	for i := range evs {
		got, err := encodeEvent(&evs[i], &last)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		var g, w event.Event
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("event %d: stored JSON does not decode: %v\n%s", i, err, got)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		// The stored body keeps its own spacing; compare it compacted.
		if len(w.Raw) > 0 {
			g.Raw = compactJSON(g.Raw)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d: stored\n%+v\nwant\n%+v", i, g, w)
		}
	}
	bad := event.Event{ID: "d", Raw: []byte(`{"unterminated": `)}
	if _, err := encodeEvent(&bad, &last); err == nil {
		t.Error("an invalid raw payload was stored")
	}
}

func compactJSON(b []byte) []byte {
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return nil
	}
	return c.Bytes()
}
