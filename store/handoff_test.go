package store

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/internal/storetest"
	"github.com/firebreak/firebreak/web/sources"
)

// held reports whether h keeps an event under seq, without taking it.
func (h *Handoff) held(seq uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.slots != nil && h.slots[seq%HandoffSlots].seq == seq
}

// Every sample payload of every source, decoded by its real decoder and
// appended, is handed to Event exactly as the store reads it back from the
// file, with the receive time in UTC, in a fixed zone and in Local.
func TestHandoffGivesWhatTheStoreReads(t *testing.T) {
	generic, err := sources.NewGeneric("generic", sources.GenericConfig{
		Items:      "body.alerts ?? [body]",
		ID:         "item.fingerprint ?? item.uuid ?? item.rule",
		Name:       `item.labels?.alertname ?? item.rule ?? "unnamed"`,
		Status:     "item.status",
		LabelsFrom: "item.labels",
		Fields:     map[string]string{"item": "item", "count": "item.count ?? 1.5"},
	})
	if err != nil {
		t.Fatal(err)
	}
	db, _ := openAuditTest(t)
	ctx := context.Background()
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.Local}
	var appended, handed int
	for _, sample := range storetest.Samples(t, "../web/sources/testdata") {
		file, body, dec := sample.File, sample.Body, sample.Decoder
		for zi, loc := range zones {
			for _, d := range []sources.Decoder{dec, generic} {
				now := time.Now().In(loc) // with a monotonic reading, as the receiver has
				evs, err := d.Decode(body, now)
				if err != nil || len(evs) == 0 {
					continue // not every payload suits the generic mapping
				}
				for i := range evs {
					evs[i].ID += "/" + d.Name() + "/" + loc.String() + "/" + string(rune('0'+zi))
					evs[i].ReceivedAt = now
					evs[i].Raw = body
				}
				seqs, err := db.AppendEvents(ctx, evs)
				if err != nil {
					t.Fatalf("%s: append: %v", file, err)
				}
				for _, seq := range seqs {
					if seq == 0 {
						continue
					}
					appended++
					if !db.handoff.held(seq) {
						continue
					}
					handed++
					got, err := db.Event(ctx, seq) // from the handoff
					if err != nil {
						t.Fatal(err)
					}
					if db.handoff.held(seq) {
						t.Fatalf("event %d is still held after Event took it", seq)
					}
					want, err := db.Event(ctx, seq) // decoded from the file
					if err != nil {
						t.Fatal(err)
					}
					if diff := storetest.EventDiff(got, want); diff != "" {
						t.Errorf("%s via %s in %s: handed over and read from the file differ: %s", file, d.Name(), loc, diff)
					}
				}
			}
		}
	}
	// Every payload here is valid JSON, so every event is one AsStored can
	// tell; one not handed over would mean a type it does not model.
	if appended < 60 || handed != appended {
		t.Fatalf("%d of %d appended events handed over", handed, appended)
	}
}

// What AsStored cannot tell without the round trip is not handed over,
// and Event reads it from the file instead.
func TestHandoffKeepsOnlyWhatItCanTell(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for name, ev := range map[string]event.Event{
		"invalid UTF-8 label":   {Labels: map[string]string{"k": "caf\xe9"}},
		"invalid UTF-8 name":    {Name: "\xff"},
		"a struct in fields":    {Fields: map[string]any{"t": at}},
		"a number beyond float": {Fields: map[string]any{"n": json.Number("1e400")}},
		"NaN":                   {Fields: map[string]any{"n": math.NaN()}},
		"year 10000":            {StartsAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, ok := AsStored(ev); ok {
			t.Errorf("%s: AsStored claims to know how it reads back", name)
		}
	}
	db, _ := openAuditTest(t)
	ctx := context.Background()
	// What a commit that failed after its transaction ran leaves behind:
	// an event kept under the sequence the next commit gives another.
	db.handoff.Put(1, event.Event{ID: "rolled back", Source: "test"})
	seqs, err := db.AppendEvents(ctx, []event.Event{{ID: "bad", Source: "test", Name: "caf\xe9", StartsAt: at}})
	if err != nil {
		t.Fatal(err)
	}
	if db.handoff.held(seqs[0]) {
		t.Fatal("an event with invalid UTF-8 was handed over")
	}
	ev, err := db.Event(ctx, seqs[0])
	if err != nil || ev.ID != "bad" || ev.Name != "caf\ufffd" {
		t.Fatalf("Event = %q %q, %v; want bad, in the stored form caf\\ufffd", ev.ID, ev.Name, err)
	}
}

// The ring keeps HandoffSlots events at most: a newer event takes an
// older one's slot, a take happens once, a drop forgets.
func TestHandoffRing(t *testing.T) {
	var h Handoff
	if _, ok := h.Take(1); ok {
		t.Fatal("an empty handoff gave an event")
	}
	h.Put(0, event.Event{ID: "zero"})
	if h.held(0) {
		t.Fatal("sequence 0 was kept")
	}
	h.Put(1, event.Event{ID: "one"})
	h.Put(2, event.Event{ID: "two"})
	h.Put(1+HandoffSlots, event.Event{ID: "one again"})
	if _, ok := h.Take(1); ok {
		t.Fatal("event 1 survived a newer event in its slot")
	}
	if ev, ok := h.Take(1 + HandoffSlots); !ok || ev.ID != "one again" {
		t.Fatalf("Take(%d) = %q, %v", 1+HandoffSlots, ev.ID, ok)
	}
	if _, ok := h.Take(1 + HandoffSlots); ok {
		t.Fatal("an event was taken twice")
	}
	h.Drop(2)
	if _, ok := h.Take(2); ok {
		t.Fatal("a dropped event was taken")
	}
}

// FuzzAsStored: for any event AsStored accepts, what it returns is what
// the store's own encoding decodes to; an event with only valid UTF-8 and
// the types the decoders produce is accepted.
func FuzzAsStored(f *testing.F) {
	f.Add("alertname", "Cart\u2028<b>&", 3, 1.5, "12.50", int64(1)<<60, -7200)
	f.Add("", "", 0, 0.0, "0", int64(0), 0)
	f.Add("k\xff", "v", -1, 1e-7, "1e21", int64(-1), 3600)
	f.Fuzz(func(t *testing.T, key, val string, n int, x float64, num string, big int64, offset int) {
		loc := time.FixedZone("", offset%(18*3600))
		at := time.Unix(big%(1<<35), int64(n)%1e9).In(loc)
		ev := event.Event{
			ID: "id-" + val, Source: "fuzz", Name: key, Severity: val,
			Labels:      map[string]string{key: val},
			Annotations: map[string]string{},
			Fields: map[string]any{
				"n": n, "big": big, "x": x, "num": json.Number(num), "s": val,
				"nested":  map[string]any{key: []any{n, val, map[string]string{key: val}, nil, true}},
				"strings": []string{key, val}, "nilmap": map[string]string(nil),
			},
			StartsAt: at, ReceivedAt: time.Now(),
		}
		var last []byte
		open, err := encodeOpen(&ev, false, &last)
		if err != nil {
			return
		}
		var want storedEvent
		decErr := json.Unmarshal(append(open, '}'), &want)
		got, ok := AsStored(ev)
		if !ok {
			valid := decErr == nil && !math.IsNaN(x) && !math.IsInf(x, 0) && strings.ToValidUTF8(key, "") == key && strings.ToValidUTF8(val, "") == val
			if _, off := at.Zone(); valid && off%60 == 0 && json.Valid([]byte(num)) {
				t.Fatalf("AsStored refused an event it can tell: %#v", ev)
			}
			return
		}
		if decErr != nil {
			t.Fatalf("AsStored accepted an event whose stored form does not decode: %v", decErr)
		}
		if diff := storetest.EventDiff(got, want.Event); diff != "" {
			t.Fatalf("AsStored and the store's decode differ: %s", diff)
		}
	})
}

// The handoff holds HandoffBytes at most: a body larger than a 64th of
// it is never kept, and once the budget is used up events are read from
// the store until taken ones free it.
func TestHandoffBoundsBytes(t *testing.T) {
	var h Handoff
	h.Drop(1) // on an empty handoff: nothing to do, no panic
	h.Put(1, event.Event{ID: "huge", Raw: make([]byte, HandoffBytes/64)})
	if h.held(1) {
		t.Fatal("a body beyond a 64th of the budget was kept")
	}
	body := make([]byte, 200<<10)
	fits := HandoffBytes / (len(body) + 1024)
	for seq := uint64(1); seq <= uint64(fits)+10; seq++ {
		h.Put(seq, event.Event{ID: "big", Raw: body})
	}
	held := 0
	for seq := uint64(1); seq <= uint64(fits)+10; seq++ {
		if h.held(seq) {
			held++
		}
	}
	if held != fits || h.bytes > HandoffBytes {
		t.Fatalf("%d held (%d bytes), want %d within %d bytes", held, h.bytes, fits, HandoffBytes)
	}
	if _, ok := h.Take(1); !ok {
		t.Fatal("the first event was not held")
	}
	h.Put(uint64(fits)+20, event.Event{ID: "after a take", Raw: body})
	if !h.held(uint64(fits) + 20) {
		t.Fatal("a take did not free room for the next event")
	}
	// Overwriting a slot gives its size back.
	before := h.bytes
	h.Put(2+HandoffSlots, event.Event{ID: "small"})
	if want := before - (len(body) + 1024) + 1024; h.bytes != want {
		t.Fatalf("bytes after replacing a slot = %d, want %d", h.bytes, want)
	}
}
