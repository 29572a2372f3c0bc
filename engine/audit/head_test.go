package audit

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// fullHead decodes body as the stores' full read does (json.Unmarshal of
// the whole record) and returns its head.
func fullHead(t testing.TB, v []byte) (Head, error) {
	t.Helper()
	var r Record
	if err := json.Unmarshal(v[sha256.Size:], &r); err != nil {
		return Head{}, err
	}
	return r.Head(), nil
}

func sameHead(a, b Head) bool {
	an, ao := a.Time.Zone()
	bn, bo := b.Time.Zone()
	return a.Seq == b.Seq && a.Kind == b.Kind && a.Time.Equal(b.Time) && an == bn && ao == bo
}

// sealed returns the stored form of body (the hash is not checked by
// DecodeHead, so zeros do).
func sealed(body string) []byte { return append(make([]byte, sha256.Size), body...) }

// TestDecodeHeadOfSealedRecords: for records as Seal stores them — times
// in UTC, with a zone offset, on a whole second, the zero time, kinds of
// the catalogue and others (with characters JSON escapes) — DecodeHead
// returns what the full decode does, and the scanner itself reads every
// one whose kind needs no escape (the fast path is taken, not only the
// fallback).
func TestDecodeHeadOfSealedRecords(t *testing.T) {
	east := time.FixedZone("", 5*3600+30*60)
	west := time.FixedZone("", -8*3600)
	cases := []struct {
		name string
		rec  Record
		fast bool
	}{
		{"utc with nanoseconds", Record{Seq: 1, Time: time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC), Kind: KindReceived}, true},
		{"whole second", Record{Seq: 22, Time: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), Kind: KindStepSucceeded}, true},
		{"trailing zeros trimmed", Record{Seq: 300, Time: time.Date(2026, 12, 7, 12, 0, 0, 500_000_000, time.UTC), Kind: KindStepFailed}, true},
		{"offset east", Record{Seq: 4, Time: time.Date(2026, 12, 7, 17, 30, 0, 1, east), Kind: KindStepRefused}, true},
		{"offset west", Record{Seq: 5, Time: time.Date(2026, 12, 7, 4, 0, 0, 0, west), Kind: KindMatched}, true},
		{"zero time and seq", Record{}, true},
		{"max seq", Record{Seq: math.MaxUint64, Time: time.Unix(0, 1).UTC(), Kind: KindCheckpoint}, true},
		{"year 9999", Record{Seq: 6, Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Kind: KindApproval}, true},
		{"kind outside the catalogue", Record{Seq: 7, Time: time.Unix(1, 0).UTC(), Kind: "custom.kind-1"}, true},
		{"empty kind", Record{Seq: 8, Time: time.Unix(2, 0).UTC(), Kind: ""}, true},
		{"kind escaped as html", Record{Seq: 9, Time: time.Unix(3, 0).UTC(), Kind: "a<b>&c"}, false},
		{"kind with a quote", Record{Seq: 10, Time: time.Unix(4, 0).UTC(), Kind: `a"b`}, false},
		{"kind outside ascii", Record{Seq: 11, Time: time.Unix(5, 0).UTC(), Kind: "zürich"}, false},
		{"kind with invalid utf-8", Record{Seq: 12, Time: time.Unix(6, 0).UTC(), Kind: "a\xffb"}, false},
		{"a full record", Record{Seq: 13, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Kind: KindStepDryRun, EventID: "am:1",
			Step: StepIndex(2), Message: `"kind":"step.failed"`, Data: map[string]any{"seq": 99, "kind": "x", "time": "2020-01-01T00:00:00Z"}, Prev: strings.Repeat("0", 64)}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Seal(&c.rec)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fullHead(t, v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeHead(v)
			if err != nil || !sameHead(got, want) {
				t.Fatalf("DecodeHead = %+v, %v; the full decode gives %+v", got, err, want)
			}
			if _, _, ok := scanHead(v[sha256.Size:]); ok != c.fast {
				t.Fatalf("scanHead ok = %v, want %v on %s", ok, c.fast, v[sha256.Size:])
			}
		})
	}
}

// TestDecodeHeadFallsBack: bodies that are not exactly in Seal's shape
// are decoded in full, so they give json.Unmarshal's values; bodies it
// refuses are errors.
func TestDecodeHeadFallsBack(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, body string
		want       Head
	}{
		{"space after the brace", `{ "seq":1,"time":"2026-12-07T12:00:00Z","kind":"event.received"}`, Head{1, at, KindReceived}},
		{"other key order", `{"kind":"event.received","seq":2,"time":"2026-12-07T12:00:00Z"}`, Head{2, at, KindReceived}},
		{"upper-case key", `{"SEQ":3,"time":"2026-12-07T12:00:00Z","kind":"event.received"}`, Head{3, at, KindReceived}},
		{"escaped kind", `{"seq":4,"time":"2026-12-07T12:00:00Z","kind":"event\u002ereceived"}`, Head{4, at, KindReceived}},
		{"no kind", `{"seq":5,"time":"2026-12-07T12:00:00Z"}`, Head{5, at, ""}},
		{"kind last", `{"seq":6,"time":"2026-12-07T12:00:00Z","kind":"step.failed"}`, Head{6, at, KindStepFailed}},
		{"exponent seq", `{"seq":7e0,"time":"2026-12-07T12:00:00Z","kind":"step.failed"}`, Head{}},
		{"leading zero seq", `{"seq":07,"time":"2026-12-07T12:00:00Z","kind":"step.failed"}`, Head{}},
		{"overflowing seq", `{"seq":18446744073709551616,"time":"2026-12-07T12:00:00Z","kind":"x"}`, Head{}},
		{"negative seq", `{"seq":-1,"time":"2026-12-07T12:00:00Z","kind":"x"}`, Head{}},
		{"time not a string", `{"seq":8,"time":12,"kind":"x"}`, Head{}},
		{"bad time", `{"seq":9,"time":"2026-13-07T12:00:00Z","kind":"x"}`, Head{}},
		{"kind not a string", `{"seq":10,"time":"2026-12-07T12:00:00Z","kind":3}`, Head{}},
		{"unterminated", `{"seq":11,"time":"2026-12-07T12:00:00Z","kind":"x`, Head{}},
		{"not json", `seq=12`, Head{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := sealed(c.body)
			want, wantErr := fullHead(t, v)
			got, err := DecodeHead(v)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("DecodeHead error %v; the full decode's %v", err, wantErr)
			}
			if err == nil && (!sameHead(got, want) || !sameHead(got, c.want)) {
				t.Fatalf("DecodeHead = %+v; the full decode gives %+v, the case wants %+v", got, want, c.want)
			}
			if _, _, ok := scanHead(v[sha256.Size:]); ok && c.name != "kind last" {
				t.Fatalf("the scanner took %s, which is not in Seal's shape", c.body)
			}
		})
	}
	if _, err := DecodeHead(make([]byte, sha256.Size-1)); !errors.Is(err, ErrChainBroken) {
		t.Fatalf("a value shorter than the hash: %v, want ErrChainBroken", err)
	}
}

// FuzzDecodeHead: for any record Seal stores, DecodeHead equals the full
// decode; for any body at all, DecodeHead does not panic, and the prefix
// the scanner accepts decodes, as a JSON object of its own, to the head it
// read.
func FuzzDecodeHead(f *testing.F) {
	f.Add(uint64(1), int64(1764590400123456789), 0, "event.received", "msg", `{"seq":1,"time":"2026-12-07T12:00:00Z","kind":"x"}`)
	f.Add(uint64(0), int64(0), 3600, "", "", `{"seq":0,"time":"0001-01-01T00:00:00Z","kind":""}`)
	f.Add(uint64(math.MaxUint64), int64(-1), -45*60, "a\"b", `"kind":"step.failed"`, `{"seq":2,"time":"2026-12-07T12:00:00+05:30","kind":"y","data":{}}`)
	f.Fuzz(func(t *testing.T, seq uint64, nanos int64, offset int, kind, msg, body string) {
		rec := Record{Seq: seq, Time: time.Unix(0, nanos).In(time.FixedZone("", offset%(18*3600))), Kind: Kind(kind), Message: msg,
			Data: map[string]any{"kind": msg, "seq": kind}}
		v, err := Seal(&rec)
		if err != nil {
			t.Skip() // a time JSON cannot encode
		}
		want, err := fullHead(t, v)
		if err != nil {
			t.Fatalf("the full decode of a sealed record: %v", err)
		}
		if got, err := DecodeHead(v); err != nil || !sameHead(got, want) {
			t.Fatalf("DecodeHead = %+v, %v; the full decode gives %+v (%s)", got, err, want, v[sha256.Size:])
		}
		raw := sealed(body)
		_, _ = DecodeHead(raw)
		if h, n, ok := scanHead(raw[sha256.Size:]); ok {
			full, err := fullHead(t, sealed(body[:n]+"}"))
			if err != nil || !sameHead(h, full) {
				t.Fatalf("the scanner read %+v from %q; as an object of its own it decodes to %+v, %v", h, body[:n], full, err)
			}
		}
	})
}

// TestMatchHeadIsMatch: for a query HeadOnly is true of, MatchHead
// decides as Match does on the whole record; a filter on another field
// makes HeadOnly false.
func TestMatchHeadIsMatch(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	recs := []Record{
		{Seq: 1, Time: at.Add(-time.Nanosecond), Kind: KindReceived, EventID: "e"},
		{Seq: 2, Time: at, Kind: KindReceived},
		{Seq: 3, Time: at.Add(time.Hour - time.Nanosecond), Kind: KindStepFailed, Outcome: "failed"},
		{Seq: 4, Time: at.Add(time.Hour), Kind: KindStepFailed},
	}
	queries := []Query{{}, {Kind: KindReceived}, {Since: at}, {Until: at.Add(time.Hour)}, {Since: at, Until: at.Add(time.Hour), Kind: KindStepFailed}, {After: 2, Limit: 1}}
	for _, q := range queries {
		if !q.HeadOnly() {
			t.Fatalf("%+v: HeadOnly false", q)
		}
		for i := range recs {
			if got, want := q.MatchHead(recs[i].Head()), q.Match(&recs[i]); got != want {
				t.Errorf("%+v on record %d: MatchHead %v, Match %v", q, recs[i].Seq, got, want)
			}
		}
	}
	for _, q := range []Query{{EventID: "e"}, {Playbook: "p"}, {Action: "a"}, {Outcome: "failed"}} {
		if q.HeadOnly() {
			t.Errorf("%+v: HeadOnly true, but a head cannot tell", q)
		}
	}
}
