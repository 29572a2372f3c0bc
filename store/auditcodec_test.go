package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
)

// TestAuditDictionaryIsFrozen: the v1 dictionary is part of the file
// format — records packed with it can only be read with the same bytes.
// A better dictionary is a new file and a new codec byte, never an edit.
func TestAuditDictionaryIsFrozen(t *testing.T) {
	const want = "01d4c84554228d73f75ff6c4e6b77a4a9998f61d01fc3a8b9ff8b1fb292e86d4"
	if got := fmt.Sprintf("%x", sha256.Sum256(auditDictV1)); got != want {
		t.Fatalf("store/auditdict/v1.json changed (sha256 %s, frozen %s): files written with it would no longer read; add a v2 instead", got, want)
	}
	if dictV1() == nil {
		t.Fatal("the v1 dictionary does not load")
	}
}

// TestPackRecordRoundTrips: every sealed value unpacks to itself, packed
// only when that is smaller, and a packed record of the engine's shapes
// takes well under the sealed bytes.
func TestPackRecordRoundTrips(t *testing.T) {
	random := make([]byte, 600)
	_, _ = rand.Read(random)
	big := strings.Repeat(`{"line":"kubelet restarted the container"}`, 2000)
	var sealed [][]byte
	for _, rec := range codecSamples() {
		v, err := audit.Seal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, v)
	}
	for _, rec := range []audit.Record{
		{Seq: 1, Kind: audit.KindReload, Outcome: "ok", Prev: strings.Repeat("0", 64)},
		{Seq: 2, Kind: audit.KindStepFailed, Message: hex.EncodeToString(random), Prev: strings.Repeat("0", 64)},
		{Seq: 3, Kind: audit.KindStepSucceeded, Data: map[string]any{"output": big}, Prev: strings.Repeat("0", 64)},
		{Seq: 4, Kind: audit.KindReceived, Message: "ünïcode \u2028 <script>", Prev: strings.Repeat("0", 64)},
	} {
		v, err := audit.Seal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, v)
	}
	// Values the engine never seals but a reader may meet: stored as they
	// are, and read back so.
	upper := append([]byte(nil), sealed[0]...)
	copy(upper[len(upper)-2-64:], strings.Repeat("AB", 32))
	noLink := append(make([]byte, sha256.Size), `{"seq":9,"kind":"event.received","outcome":"accepted","message":"no link at the end","prev":""}`...)
	sealed = append(sealed, upper, noLink, make([]byte, sha256.Size), append(make([]byte, sha256.Size), '{', '}'), append(make([]byte, sha256.Size), random...))
	for i, v := range sealed {
		p := packRecord(v)
		if len(p) > len(v) {
			t.Errorf("value %d: packed to %d bytes, more than its %d", i, len(p), len(v))
		}
		if !bytes.Equal(p[:min(len(p), sha256.Size)], v[:min(len(v), sha256.Size)]) {
			t.Errorf("value %d: the hash did not stay in front", i)
		}
		got, err := unpackRecord(p, nil)
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		if !bytes.Equal(got, v) {
			t.Fatalf("value %d: unpacked to %q, want %q", i, got, v)
		}
		// Into a reused buffer, too small and large enough.
		for _, buf := range [][]byte{make([]byte, 3), make([]byte, 0, 1<<20)} {
			if got, err := unpackRecord(p, buf); err != nil || !bytes.Equal(got, v) {
				t.Fatalf("value %d into a buffer of %d: %v", i, cap(buf), err)
			}
		}
	}
	for i, v := range sealed[:4] {
		if p := packRecord(v); !isPacked(p) || len(p) > len(v)*2/3 {
			t.Errorf("engine record %d: stored in %d of its %d bytes (packed %v), want at most two thirds", i, len(p), len(v), isPacked(p))
		}
	}
	for _, v := range [][]byte{upper, noLink} {
		if isPacked(packRecord(v)) {
			t.Errorf("%q was packed: its link is not in Seal's form", v[sha256.Size:])
		}
	}
}

// TestPackedTrailReadsAsBefore: a file whose trail was written first
// without the codec (as by an earlier version) and then with it reads as
// one trail — ListAudit, AuditHeads, the event and playbook indexes, the
// time search, verification, the stored-bytes count and retention — and
// the records written now are stored packed.
func TestPackedTrailReadsAsBefore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	clk := &auditClock{t: auditT0}
	db, err := Open(path, Options{NoSync: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	db.plainAudit = true
	fillAudit(t, db, clk, 600)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{NoSync: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var recs []audit.Record
	for j := 600; j < 1200; j++ {
		recs = append(recs, audit.Record{Time: auditT0.Add(time.Duration(j) * time.Second), Kind: audit.KindStepSucceeded,
			EventID: fmt.Sprintf("e%d", j/4), Playbook: []string{"pb-a", "pb-b", "pb-c"}[j%3], Outcome: "ok",
			Message: "POST https://hooks.example.internal/x: 200 OK", Data: map[string]any{"attempts": 1, "summary": "POST https://hooks.example.internal/x: 200 OK"}})
	}
	if err := db.Audit(ctx, recs...); err != nil {
		t.Fatal(err)
	}

	var plain, packed int
	var storedBytes int64
	err = db.bolt.View(func(tx *boltTx) error {
		return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
			storedBytes += int64(len(v))
			if isPacked(v) != (btoi(k) > 600) {
				return fmt.Errorf("record %d: packed %v", btoi(k), isPacked(v))
			}
			if isPacked(v) {
				packed++
			} else {
				plain++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if plain != 600 || packed != 600 {
		t.Fatalf("%d plain and %d packed records, want 600 each", plain, packed)
	}
	if n, err := db.AuditBytes(ctx); err != nil || n != storedBytes {
		t.Fatalf("AuditBytes %d, %v; the stored values hold %d", n, err, storedBytes)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 1200 {
		t.Fatalf("verify: %d records, %v", n, err)
	}

	all, next, err := db.ListAudit(ctx, audit.Query{Limit: 2000})
	if err != nil || next != 0 || len(all) != 1200 {
		t.Fatalf("ListAudit: %d records, next %d, %v", len(all), next, err)
	}
	for i, r := range all {
		if r.Seq != uint64(i+1) || !r.Time.Equal(auditT0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("record %d: seq %d time %v", i, r.Seq, r.Time)
		}
	}
	if all[700].Message != recs[100].Message || all[700].Data["summary"] != recs[100].Data["summary"] {
		t.Fatalf("packed record 701 reads back as %+v", all[700])
	}
	for _, q := range []audit.Query{
		{EventID: "e149"}, {EventID: "e150"}, {Playbook: "pb-b", Since: auditT0.Add(590 * time.Second), Until: auditT0.Add(610 * time.Second)},
		{Outcome: "ok", After: 590, Limit: 7}, {Kind: audit.KindStepSucceeded, Since: auditT0.Add(595 * time.Second), Limit: 10},
	} {
		got, _, err := db.ListAudit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for i := range all {
			if all[i].Seq > q.After && q.Match(&all[i]) && (q.Limit == 0 || len(want) < q.Limit) {
				want = append(want, all[i].Seq)
			}
		}
		if fmt.Sprint(seqsOf(got)) != fmt.Sprint(want) || len(want) == 0 {
			t.Errorf("%+v: got %v, want %v", q, seqsOf(got), want)
		}
		heads, _, err := db.AuditHeads(ctx, q)
		if err != nil || len(heads) != len(got) {
			t.Fatalf("%+v: %d heads, %v", q, len(heads), err)
		}
		for i, h := range heads {
			if h != got[i].Head() {
				t.Errorf("%+v: head %d is %+v, the record %+v", q, i, h, got[i].Head())
			}
		}
	}

	// Retention takes the oldest plain records and then packed ones, and
	// the stored-bytes count follows what it removed.
	res, err := db.Compact(ctx, Retention{MaxRecords: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.AuditRemoved == 0 {
		t.Fatalf("retention removed nothing: %+v", res)
	}
	storedBytes = 0
	_ = db.bolt.View(func(tx *boltTx) error {
		return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error { storedBytes += int64(len(v)); return nil })
	})
	if n, err := db.AuditBytes(ctx); err != nil || n != storedBytes {
		t.Fatalf("after retention AuditBytes %d, %v; the stored values hold %d", n, err, storedBytes)
	}
	if _, err := db.VerifyAudit(ctx); err != nil {
		t.Fatalf("verify after retention: %v", err)
	}
}

func seqsOf(recs []audit.Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

// TestTamperedPackedRecordIsCaught: a packed record edited in the file —
// a byte of its block flipped, the block cut short, its length claiming
// more than a record may hold, an unknown codec byte — fails verification
// as a broken chain; a block that cannot be unpacked is an error for
// readers too, never a panic.
func TestTamperedPackedRecordIsCaught(t *testing.T) {
	edits := map[string]func(v []byte) []byte{
		"byte flipped in the block": func(v []byte) []byte { v[len(v)-5] ^= 0x20; return v },
		"block cut short":           func(v []byte) []byte { return v[:len(v)-9] },
		"length over the bound": func(v []byte) []byte {
			return append(append(v[:sha256.Size+1:sha256.Size+1], 0x80, 0x80, 0x80, 0x10), v[sha256.Size+2:]...)
		},
		"unknown codec byte": func(v []byte) []byte { v[sha256.Size] = 0x02; return v },
		"hash edited":        func(v []byte) []byte { v[3] ^= 1; return v },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			db, clk := openAuditTest(t)
			fillAudit(t, db, clk, 20)
			err := db.bolt.Update(func(tx *boltTx) error {
				b := tx.Bucket(bucketAudit)
				v := append([]byte(nil), b.Get(itob(7))...)
				if !isPacked(v) {
					return errors.New("record 7 is not packed")
				}
				return b.Put(itob(7), edit(v))
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = db.VerifyAudit(context.Background())
			if !errors.Is(err, audit.ErrChainBroken) || !strings.Contains(err.Error(), "record 7") {
				t.Fatalf("verify: %v, want a broken chain at record 7", err)
			}
			if name == "hash edited" || name == "byte flipped in the block" {
				return // readers do not check hashes, verify does: a flip may decode to other JSON
			}
			if _, _, err := db.ListAudit(context.Background(), audit.Query{Limit: 100}); err == nil {
				t.Fatal("ListAudit read the damaged record without an error")
			}
		})
	}
}

// FuzzUnpackRecord: whatever a stored value holds, unpacking it returns
// an error or a value, never panics, and never more than a record may
// hold; what it returns packs and unpacks to itself.
func FuzzUnpackRecord(f *testing.F) {
	for _, rec := range codecSamples() {
		v, _ := audit.Seal(&rec)
		f.Add(packRecord(v))
		f.Add(v)
	}
	f.Add(append(make([]byte, sha256.Size), codecS2V1))
	f.Add(append(make([]byte, sha256.Size), codecS2V1, 0xff, 0xff, 0xff, 0xff, 0x0f))
	f.Fuzz(func(t *testing.T, v []byte) {
		got, err := unpackRecord(v, nil)
		if err != nil {
			if !errors.Is(err, audit.ErrChainBroken) {
				t.Fatalf("error %v does not wrap ErrChainBroken", err)
			}
			return
		}
		if len(got) > sha256.Size+maxRecordBody {
			t.Fatalf("unpacked to %d bytes", len(got))
		}
		if isPacked(got) {
			return // a sealed value never starts its body with the codec byte
		}
		again, err := unpackRecord(packRecord(got), nil)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("repacked: %v", err)
		}
	})
}
