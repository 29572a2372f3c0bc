package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

// An event stored with its body spliced in (not re-encoded) reads back as
// what json.Marshal would have stored.
func TestStoredEventMatchesMarshal(t *testing.T) {
	db, _ := openAuditTest(t)
	ctx := context.Background()
	body := []byte("{\n  \"alerts\": [ {\"x\": 1}, {\"x\": 2} ]\n}\n")
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	evs := []event.Event{
		{ID: "a", Source: "alertmanager", Labels: map[string]string{"k": "v"}, StartsAt: at, Raw: body},
		{ID: "b", Source: "alertmanager", Fields: map[string]any{"n": 1.5}, StartsAt: at, Raw: body},
		{ID: "c", Source: "test"},
	}
	for i := range evs {
		// One request each: the body is stored inline.
		seqs, err := db.AppendEvents(ctx, evs[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Event(ctx, seqs[0])
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		var w event.Event
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		// The stored body keeps its own spacing; compare it compacted.
		if len(w.Raw) > 0 {
			got.Raw = compactJSON(got.Raw)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("event %d: stored\n%+v\nwant\n%+v", i, got, w)
		}
	}
	bad := event.Event{ID: "d", Raw: []byte(`{"unterminated": `)}
	if _, err := db.AppendEvents(ctx, []event.Event{bad}); err == nil {
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

// A request's body is stored once when it brings several new events, read
// back with each of them, and removed with the last of them by retention;
// a lone event keeps its body inline.
func TestSharedBodyIsStoredOnce(t *testing.T) {
	db, clk := openAuditTest(t)
	ctx := context.Background()
	body := []byte(`{"alerts":[` + strings.Repeat(`{"labels":{"a":"b"}},`, 50) + `{}]}`)
	countRaw := func() (n int, inlineBodies int) {
		if err := db.syncInbox(ctx); err != nil {
			t.Fatal(err)
		}
		_ = db.bolt.View(func(tx *bolt.Tx) error {
			n = tx.Bucket(bucketRaw).Stats().KeyN
			return tx.Bucket(bucketInbox).ForEach(func(_, v []byte) error {
				if bytes.Contains(v, []byte(`"labels":{"a":"b"}`)) {
					inlineBodies++
				}
				return nil
			})
		})
		return n, inlineBodies
	}
	var group []event.Event
	for i := range 5 {
		group = append(group, event.Event{ID: fmt.Sprintf("g%d", i), Source: "alertmanager", ReceivedAt: auditT0, Raw: body})
	}
	// One of them was seen before: it is a duplicate, the other four share.
	if _, err := db.AppendEvents(ctx, []event.Event{{ID: "g0", Source: "alertmanager", ReceivedAt: auditT0, Raw: []byte(`{"first":true}`)}}); err != nil {
		t.Fatal(err)
	}
	seqs, err := db.AppendEvents(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if seqs[0] != 0 || seqs[1] == 0 {
		t.Fatalf("seqs = %v, want g0 a duplicate", seqs)
	}
	if n, inline := countRaw(); n != 1 || inline != 0 {
		t.Fatalf("raw bodies stored = %d, inline copies = %d; want 1 and 0", n, inline)
	}
	for _, seq := range seqs[1:] {
		ev, err := db.Event(ctx, seq)
		if err != nil || !bytes.Equal(ev.Raw, body) {
			t.Fatalf("event %d: %v, raw equal %v", seq, err, bytes.Equal(ev.Raw, body))
		}
	}
	if _, ev, err := db.EventByID(ctx, "g3"); err != nil || !bytes.Equal(ev.Raw, body) {
		t.Fatalf("EventByID g3: %v, raw equal %v", err, bytes.Equal(ev.Raw, body))
	}
	n := 0
	if err := db.EventsSince(ctx, auditT0.UnixNano(), func(_ uint64, ev event.Event) error {
		if ev.ID != "g0" && !bytes.Equal(ev.Raw, body) {
			t.Errorf("EventsSince %s: raw %q", ev.ID, ev.Raw)
		}
		n++
		return nil
	}); err != nil || n != 5 {
		t.Fatalf("EventsSince: %d events, %v", n, err)
	}
	if ev, err := db.Event(ctx, 1); err != nil || string(ev.Raw) != `{"first":true}` {
		t.Fatalf("lone event: %v, raw %q", err, ev.Raw)
	}

	// Retention: g1 and g2 finished and old, g3 and g4 still pending, so
	// the shared body stays; then all finish and it goes.
	finish := func(ss ...uint64) {
		if err := db.Update(ctx, func(tx state.Tx) error {
			for _, s := range ss {
				if err := tx.Finish(s); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	finish(1, seqs[1], seqs[2])
	clk.Advance(48 * time.Hour)
	if _, err := db.Compact(ctx, Retention{InboxMaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n, _ := countRaw(); n != 1 {
		t.Fatalf("raw bodies after a partial compaction = %d, want 1", n)
	}
	if ev, err := db.Event(ctx, seqs[4]); err != nil || !bytes.Equal(ev.Raw, body) {
		t.Fatalf("kept event after a partial compaction: %v, raw equal %v", err, bytes.Equal(ev.Raw, body))
	}
	finish(seqs[3], seqs[4])
	if _, err := db.Compact(ctx, Retention{InboxMaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n, _ := countRaw(); n != 0 {
		t.Fatalf("raw bodies after the last event went = %d, want 0", n)
	}
}
