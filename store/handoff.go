package store

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/firebreak/firebreak/engine/event"
)

// Handoff passes the events a process has just made durable to the same
// process's engine, so that loading an event it accepted a moment ago
// needs no read and no JSON decode of the inbox entry. The stored entry
// stays the truth: an event the handoff does not hold (another process
// appended it, the process restarted, a newer event took its slot, or it
// was taken already) is read from the store as before.
//
// What it hands over is what decoding the stored entry would give
// (AsStored): encoding/json's types in Fields, times as time.Time's JSON
// form reads back. An event for which that cannot be told without the
// round trip is not kept.
//
// It is a ring of slots indexed by sequence, so it holds at most
// HandoffSlots events (and HandoffBytes), never leaks one that nobody
// takes, and a put or a take is O(1). The zero value is ready to use; it is safe for
// concurrent use.
type Handoff struct {
	mu    sync.Mutex
	slots []handoffSlot
	bytes int // the sizes of the events held (handoffSize)
}

// HandoffSlots is how many events a Handoff holds. The engine loads an
// event within moments of its commit unless a backlog builds; events
// beyond this many waiting are read from the store.
const HandoffSlots = 1024

// HandoffBytes bounds what a Handoff holds by size as well: bodies are
// whatever senders post, up to the receiver's limit, and a thousand large
// ones must not sit in memory behind a slow engine. An event larger than a
// 64th of it is never kept.
const HandoffBytes = 16 << 20

type handoffSlot struct {
	seq  uint64 // 0: empty
	size int
	ev   event.Event
}

// handoffSize is what an event counts against HandoffBytes: its body
// (counted whole by every event that shares it) and a rough allowance for
// the rest.
func handoffSize(ev *event.Event) int { return len(ev.Raw) + 1024 }

// Put keeps ev under seq for Take. ev must be what AsStored returned for
// the event stored under seq. Put may be called inside the transaction
// that stores it, before the commit (so that it is there when the event
// is first seen as pending): if that commit fails, the caller drops what
// it put. The caller gives up ev's maps and slices: it must not modify
// them afterwards.
func (h *Handoff) Put(seq uint64, ev event.Event) {
	if seq == 0 {
		return
	}
	size := handoffSize(&ev)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.slots == nil {
		h.slots = make([]handoffSlot, HandoffSlots)
	}
	s := &h.slots[seq%HandoffSlots]
	h.bytes -= s.size
	*s = handoffSlot{}
	if size > HandoffBytes/64 || h.bytes+size > HandoffBytes {
		return // read from the store instead
	}
	*s = handoffSlot{seq: seq, size: size, ev: ev}
	h.bytes += size
}

// Take returns the event kept under seq and forgets it, or false.
func (h *Handoff) Take(seq uint64) (event.Event, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.slots == nil {
		return event.Event{}, false
	}
	s := &h.slots[seq%HandoffSlots]
	if s.seq != seq || seq == 0 {
		return event.Event{}, false
	}
	ev := s.ev
	h.bytes -= s.size
	*s = handoffSlot{}
	return ev, true
}

// Drop forgets the event kept under seq, if any (it was removed from the
// store before anybody loaded it).
func (h *Handoff) Drop(seq uint64) {
	h.mu.Lock()
	if h.slots == nil {
		h.mu.Unlock()
		return
	}
	if s := &h.slots[seq%HandoffSlots]; s.seq == seq {
		h.bytes -= s.size
		*s = handoffSlot{}
	}
	h.mu.Unlock()
}

// AsStored returns ev as a store gives it back after encoding it to JSON
// and decoding it: empty maps absent, Fields holding only encoding/json's
// types (float64 for every number, map[string]any, []any), times without a
// monotonic reading and in the location time's JSON parsing picks (UTC for
// a zero offset, Local where Local has that offset, else a fixed zone).
// It reports false where the two could differ in a way it does not model:
// a string that is not valid UTF-8 (encoding replaces the bad bytes), a
// number that does not read back, a Fields value of another type. Raw is
// kept as it is; how a store keeps the body is the store's to model.
func AsStored(ev event.Event) (event.Event, bool) {
	for _, s := range [...]string{ev.ID, ev.Source, ev.Status, ev.Name, ev.Severity, ev.Fingerprint,
		ev.Namespace, ev.Workload, ev.Pod, ev.Host, ev.SrcIP, ev.DstIP, ev.User, ev.Sender} {
		if !utf8.ValidString(s) {
			return ev, false
		}
	}
	var ok bool
	if ev.Labels, ok = storedStrings(ev.Labels); !ok {
		return ev, false
	}
	if ev.Annotations, ok = storedStrings(ev.Annotations); !ok {
		return ev, false
	}
	if len(ev.Fields) == 0 {
		ev.Fields = nil
	} else {
		v, _, ok := storedAny(ev.Fields)
		if !ok {
			return ev, false
		}
		ev.Fields = v.(map[string]any)
	}
	for _, t := range []*time.Time{&ev.StartsAt, &ev.EndsAt, &ev.ReceivedAt} {
		if *t, ok = storedTime(*t); !ok {
			return ev, false
		}
	}
	return ev, true
}

// storedStrings checks m's keys and values and drops an empty map, as
// omitempty does.
func storedStrings(m map[string]string) (map[string]string, bool) {
	if len(m) == 0 {
		return nil, true
	}
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, false
		}
	}
	return m, true
}

// storedAny returns v as decoding its JSON into an any gives it, and
// whether that differs from v. A map or slice is copied only where a value
// inside it changes.
func storedAny(v any) (out any, changed, ok bool) {
	switch x := v.(type) {
	case nil, bool:
		return x, false, true
	case string:
		return x, false, utf8.ValidString(x)
	case float64:
		// The JSON form is the shortest that reads back the same; NaN and
		// the infinities have none.
		return x, false, x-x == 0
	case int:
		return float64(x), true, true
	case int64:
		return float64(x), true, true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, true, err == nil
	case map[string]string:
		if x == nil {
			return nil, true, true
		}
		m := make(map[string]any, len(x))
		for k, s := range x {
			if !utf8.ValidString(k) || !utf8.ValidString(s) {
				return nil, false, false
			}
			m[k] = s
		}
		return m, true, true
	case []string:
		if x == nil {
			return nil, true, true
		}
		l := make([]any, len(x))
		for i, s := range x {
			if !utf8.ValidString(s) {
				return nil, false, false
			}
			l[i] = s
		}
		return l, true, true
	case map[string]any:
		if x == nil {
			return nil, true, true
		}
		var m map[string]any
		for k, e := range x {
			if !utf8.ValidString(k) {
				return nil, false, false
			}
			n, ch, ok := storedAny(e)
			if !ok {
				return nil, false, false
			}
			if ch && m == nil {
				m = make(map[string]any, len(x))
				for k2, e2 := range x {
					m[k2] = e2
				}
			}
			if m != nil {
				m[k] = n
			}
		}
		if m == nil {
			return x, false, true
		}
		return m, true, true
	case []any:
		if x == nil {
			return nil, true, true
		}
		var l []any
		for i, e := range x {
			n, ch, ok := storedAny(e)
			if !ok {
				return nil, false, false
			}
			if ch && l == nil {
				l = append([]any(nil), x...)
			}
			if l != nil {
				l[i] = n
			}
		}
		if l == nil {
			return x, false, true
		}
		return l, true, true
	}
	return nil, false, false
}

// storedTime returns t as its JSON form reads back.
func storedTime(t time.Time) (time.Time, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return t, false // time's JSON encoding refuses it
	}
	t = t.Round(0)
	_, off := t.Zone()
	if off%60 != 0 {
		return t, false // RFC 3339 writes whole minutes: the instant would move
	}
	if off == 0 {
		return t.UTC(), true
	}
	if _, local := t.In(time.Local).Zone(); local == off {
		return t.In(time.Local), true
	}
	return t.In(time.FixedZone("", off)), true
}

// trimJSONSpace drops the JSON whitespace before and after a value, which
// a body stored inline, as a json.RawMessage member, does not keep.
func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
