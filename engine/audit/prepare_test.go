package audit

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestPrepareSealsTheSameBytes: a record prepared ahead of the store's
// transaction seals to exactly the bytes an unprepared one does, whatever
// its fields hold (HTML characters, invalid UTF-8, nested data, a step of
// 0, empty values) and whatever sequence, time and link the store fills
// in after Prepare.
func TestPrepareSealsTheSameBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	texts := []string{"", "a", "<b>&'\"", "ünï\u2028code", "\xff\xfe", `{"json":1}`, "line\nbreak\t"}
	text := func() string { return texts[rng.IntN(len(texts))] }
	for i := range 2000 {
		r := Record{Kind: Kind(text() + "k"), EventID: text(), Source: text(), Playbook: text(), Action: text(),
			Target: text(), Outcome: text(), Message: text(), Actor: text()}
		if rng.IntN(2) == 0 {
			r.Step = StepIndex(rng.IntN(3))
		}
		if rng.IntN(3) > 0 {
			r.Data = map[string]any{"params": map[string]any{text(): text(), "n": rng.IntN(1000), "f": rng.Float64()},
				"list": []any{text(), nil, true}, text(): text()}
		}
		if rng.IntN(4) == 0 {
			r.Time = time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC() // set before Prepare, as a writer may
		}
		p := Prepare(r, "t")
		if !p.Prepared() {
			t.Fatalf("record %d not prepared: %+v", i, r)
		}
		for _, rec := range []*Record{&r, &p} {
			rec.Seq = uint64(rng.Int64N(1 << 40))
			if rec.Time.IsZero() || rng.IntN(2) == 0 {
				rec.Time = time.Unix(1796000000+int64(i), int64(rng.IntN(1e9))).In(time.FixedZone("x", 3600))
			}
			rec.Prev = fmt.Sprintf("%064x", rng.Uint64())
		}
		p.Seq, p.Time, p.Prev = r.Seq, r.Time, r.Prev
		got, want := sealBoth(t, &p, &r)
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: prepared seal\n%s\nwant\n%s", i, got[32:], want[32:])
		}
	}
}

// TestPrepareCoversEveryField: with every exported field of Record set,
// the prepared seal still equals the plain one — a field added to Record
// before Time or after Prev (outside what Prepare encodes) fails here
// rather than going missing from prepared records.
func TestPrepareCoversEveryField(t *testing.T) {
	var r Record
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name)
		case reflect.Uint64:
			f.SetUint(7)
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Map:
			f.Set(reflect.ValueOf(map[string]any{"k": "v"}))
		case reflect.Struct:
			f.Set(reflect.ValueOf(time.Date(2026, 12, 8, 1, 2, 3, 4, time.UTC)))
		default:
			t.Fatalf("field %s of kind %s: teach this test to set it", v.Type().Field(i).Name, f.Kind())
		}
	}
	p := Prepare(r, "t")
	got, want := sealBoth(t, &p, &r)
	if !p.Prepared() || !bytes.Equal(got, want) {
		t.Fatalf("prepared %v, seal\n%s\nwant\n%s", p.Prepared(), got[32:], want[32:])
	}
	if u := Unprepared(p); u.Prepared() {
		t.Error("Unprepared left the encoding")
	}
}

// A link that is not plain hex is left to encoding/json.
func TestPrepareOddLink(t *testing.T) {
	r := Record{Kind: "k", Prev: `a"<b`, Time: time.Unix(1, 0).UTC()}
	p := Prepare(r, "t")
	got, want := sealBoth(t, &p, &r)
	if !bytes.Equal(got, want) {
		t.Fatalf("seal %s, want %s", got[32:], want[32:])
	}
}

// sealBoth seals a prepared record and its plain twin.
func sealBoth(t *testing.T, prepared, plain *Record) (got, want []byte) {
	t.Helper()
	got, err := Seal(prepared)
	if err != nil {
		t.Fatal(err)
	}
	want, err = Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	return got, want
}
