package store

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
)

// testKey is a fixed ed25519 key, so failures are reproducible.
func testKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed + byte(i)
	}
	return ed25519.NewKeyFromSeed(s)
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// processedTrail writes a database file the way the server does: n events
// accepted into the inbox, each processed (its event.received record
// written, then finished). With a key, checkpoints are signed every `every`
// records. It returns the file's path and the signed checkpoints the
// witness hook saw.
func processedTrail(t *testing.T, n int, key ed25519.PrivateKey, every int) (string, []audit.SignedCheckpoint) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	clk := &auditClock{t: auditT0}
	db, err := Open(path, Options{NoSync: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var witnessed []audit.SignedCheckpoint
	if key != nil {
		db.SetSigner(key, every)
		db.OnCheckpointSigned(func(cp audit.SignedCheckpoint) { witnessed = append(witnessed, cp) })
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		clk.Advance(time.Second)
		ev := event.Event{ID: fmt.Sprintf("e%d", i), Source: "test", Name: "Alert", Status: event.StatusFiring, ReceivedAt: clk.Now()}
		seqs, err := appendPending(ctx, db, []event.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(ctx, func(stx state.Tx) error {
			if err := stx.Audit(audit.Record{Kind: audit.KindReceived, EventID: ev.ID, Source: ev.Source, Outcome: "accepted"}); err != nil {
				return err
			}
			return stx.Finish(seqs[0])
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, witnessed
}

// tamperFile edits the raw bbolt file the way an editor with file access
// would, with every bucket at hand.
func tamperFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// rewriteChain is the determined editor: it decodes every record, lets
// edit change, drop or add records, then renumbers them, recomputes every
// hash and link, the head, the bucket's sequence and the index, so that
// the file is a consistent trail of the edited records.
func rewriteChain(edit func([]audit.Record) []audit.Record) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		var recs []audit.Record
		if err := b.ForEach(func(k, v []byte) error {
			var r audit.Record
			if err := json.Unmarshal(sealedOf(v)[sha256.Size:], &r); err != nil {
				return err
			}
			recs = append(recs, r)
			return nil
		}); err != nil {
			return err
		}
		recs = edit(recs)
		if err := tx.DeleteBucket(bucketAudit); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketAuditIdx); err != nil {
			return err
		}
		nb, err := tx.CreateBucket(bucketAudit)
		if err != nil {
			return err
		}
		ev, pb, err := writableIndex(tx)
		if err != nil {
			return err
		}
		prev := make([]byte, sha256.Size)
		meta := tx.Bucket(bucketMeta)
		for i := range recs {
			r := recs[i]
			r.Seq = uint64(i + 1)
			r.Prev = hex.EncodeToString(prev)
			body, err := json.Marshal(r)
			if err != nil {
				return err
			}
			s := sha256.Sum256(body)
			if err := nb.Put(itob(r.Seq), append(s[:], body...)); err != nil {
				return err
			}
			if r.EventID != "" {
				if err := ev.Put(indexKey(r.EventID, r.Seq), nil); err != nil {
					return err
				}
			}
			if r.Playbook != "" {
				if err := pb.Put(indexKey(r.Playbook, r.Seq), nil); err != nil {
					return err
				}
			}
			prev = s[:]
		}
		if err := nb.SetSequence(uint64(len(recs))); err != nil {
			return err
		}
		if len(recs) == 0 {
			return meta.Delete(keyAuditHead)
		}
		return meta.Put(keyAuditHead, append(itob(uint64(len(recs))), prev...))
	}
}

// forgetEvents removes inbox events (and their idempotency keys) whose id
// is in ids, as an editor covering a cut would.
func forgetEvents(tx *bolt.Tx, keep func(id string) bool) error {
	inbox, seen := tx.Bucket(bucketInbox), tx.Bucket(bucketSeen)
	var dead [][]byte
	if err := inbox.ForEach(func(k, v []byte) error {
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			return err
		}
		if !keep(ev.ID) {
			dead = append(dead, append([]byte(nil), k...))
			return seen.Delete([]byte(ev.ID))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range dead {
		if err := inbox.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func verifyFile(t *testing.T, path string, opts audit.VerifyOptions) (audit.VerifyReport, error) {
	t.Helper()
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return db.VerifyAuditWith(context.Background(), opts)
}

func wantBroken(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, audit.ErrChainBroken) || !strings.Contains(err.Error(), want) {
		t.Fatalf("verify error = %v, want one naming %q", err, want)
	}
}

// Without a key, the head is compared with the audit bucket's sequence and
// the trail with the inbox: a wiped trail and a cut tail are found even
// when the head was rewritten to match.
func TestVerifyWithoutKeyFindsWipedAndCutTrails(t *testing.T) {
	cut := func(from uint64, setSeq bool) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			b, meta := tx.Bucket(bucketAudit), tx.Bucket(bucketMeta)
			for s := from; s <= 10; s++ {
				if err := b.Delete(itob(s)); err != nil {
					return err
				}
			}
			if from == 1 {
				if err := meta.Delete(keyAuditHead); err != nil {
					return err
				}
			} else {
				v := b.Get(itob(from - 1))
				if err := meta.Put(keyAuditHead, append(itob(from-1), v[:sha256.Size]...)); err != nil {
					return err
				}
			}
			if setSeq {
				return b.SetSequence(from - 1)
			}
			return nil
		}
	}
	tests := []struct {
		name    string
		edit    func(tx *bolt.Tx) error
		wantBad string
	}{
		{"every record and the head deleted", cut(1, false), "the trail is empty but 10 records were written"},
		{"tail cut and the head rewritten", cut(8, false), "records 8 to 10 are missing from the end"},
		{"tail cut, head and sequence rewritten", cut(8, true), `inbox event "e7" (#8) was processed, but the trail holds none of its records`},
		{"every record deleted, sequence reset", cut(1, true), `inbox event "e0" (#1) was processed`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := processedTrail(t, 10, nil, 0)
			if rep, err := verifyFile(t, path, audit.VerifyOptions{}); err != nil || rep.Records != 10 || rep.InboxChecked != 10 {
				t.Fatalf("untouched: %+v, %v; want 10 records and 10 events checked", rep, err)
			}
			tamperFile(t, path, tc.edit)
			_, err := verifyFile(t, path, audit.VerifyOptions{})
			wantBroken(t, err, tc.wantBad)
		})
	}
}

// Pending events have no records yet, and events received before what
// retention removed may have lost theirs: neither is a finding.
func TestVerifyInboxCheckSkipsPendingAndCompacted(t *testing.T) {
	db, clk := openAuditTest(t)
	ctx := context.Background()
	seqs, err := appendPending(ctx, db, []event.Event{{ID: "old", ReceivedAt: clk.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx state.Tx) error {
		if err := tx.Audit(audit.Record{Kind: audit.KindReceived, EventID: "old"}); err != nil {
			return err
		}
		return tx.Finish(seqs[0])
	}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if _, err := db.AppendEvents(ctx, []event.Event{{ID: "waiting", ReceivedAt: clk.Now()}}); err != nil {
		t.Fatal(err)
	}
	fillAudit(t, db, clk, 20)
	if _, err := db.Compact(ctx, Retention{MaxRecords: 5}); err != nil {
		t.Fatal(err)
	}
	rep, err := db.VerifyAuditWith(ctx, audit.VerifyOptions{})
	if err != nil || rep.InboxChecked != 0 {
		t.Fatalf("verify = %+v, %v; want intact with no event checked", rep, err)
	}
}

// With the key, checkpoints signed every few records anchor the chain: an
// editor who rewrites a record and recomputes every hash after it, with or
// without the checkpoints, is found; without the key the same file passes.
func TestVerifyWithKeyFindsRecomputedChain(t *testing.T) {
	key := testKey(1)
	isSigned := func(r audit.Record) bool { return r.Kind == audit.KindCheckpoint && r.Outcome == CheckpointSigned }
	editE3 := func(recs []audit.Record) []audit.Record {
		for i := range recs {
			if recs[i].EventID == "e3" {
				recs[i].Outcome = "rewritten"
			}
		}
		return recs
	}
	tests := []struct {
		name    string
		edit    func([]audit.Record) []audit.Record
		wantBad string
	}{
		{"record rewritten, chain recomputed", editE3, "the signed checkpoint names record"},
		{"record rewritten, checkpoints after it dropped", func(recs []audit.Record) []audit.Record {
			recs = editE3(recs)
			var out []audit.Record
			past := false
			for _, r := range recs {
				past = past || r.EventID == "e3"
				if past && isSigned(r) {
					continue
				}
				out = append(out, r)
			}
			return out
		}, "follow the newest signed checkpoint"},
		{"every signed checkpoint dropped", func(recs []audit.Record) []audit.Record {
			var out []audit.Record
			for _, r := range recs {
				if !isSigned(r) {
					out = append(out, r)
				}
			}
			return out
		}, "no checkpoint in the trail is signed by this key"},
		{"checkpoints after it claimed by the editor's key", func(recs []audit.Record) []audit.Record {
			recs = editE3(recs)
			past := false
			for i := range recs {
				past = past || recs[i].EventID == "e3"
				if past && isSigned(recs[i]) {
					// The editor's own key is not the one verified with.
					recs[i].Data["key_id"] = audit.KeyID(pubOf(testKey(9)))
				}
			}
			return recs
		}, "follow the newest signed checkpoint"},
		{"a checkpoint's signature forged", func(recs []audit.Record) []audit.Record {
			for i := range recs {
				if isSigned(recs[i]) {
					recs[i].Data["signature"] = "AAAA" + recs[i].Data["signature"].(string)[4:]
				}
			}
			return recs
		}, "the signature does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := processedTrail(t, 20, key, 4)
			rep, err := verifyFile(t, path, audit.VerifyOptions{PublicKey: pubOf(key)})
			if err != nil || rep.Signed == 0 || rep.Unsigned > 4 {
				t.Fatalf("untouched, with the key: %+v, %v", rep, err)
			}
			tamperFile(t, path, rewriteChain(tc.edit))
			if _, err := verifyFile(t, path, audit.VerifyOptions{}); err != nil && !strings.Contains(tc.name, "forged") {
				// The recomputed chain is consistent: only the key finds it.
				t.Fatalf("without the key: %v; the rewritten file should pass", err)
			}
			_, err = verifyFile(t, path, audit.VerifyOptions{PublicKey: pubOf(key)})
			wantBroken(t, err, tc.wantBad)
		})
	}
}

// A witness holds checkpoints outside the file: a tail cut with every trace
// rewritten (records, head, sequence, inbox) and a wiped trail are found
// with it, though the file alone is consistent.
func TestVerifyWithWitnessFindsCutAndWipedTrail(t *testing.T) {
	key := testKey(1)
	tests := []struct {
		name    string
		keepEv  func(id string) bool
		edit    func([]audit.Record) []audit.Record
		wantBad string
	}{
		{"tail cut, everything rewritten", func(id string) bool { return id < "e15" || len(id) == 2 },
			func(recs []audit.Record) []audit.Record {
				for i, r := range recs {
					if r.EventID == "e15" {
						return recs[:i]
					}
				}
				return recs
			}, "the witness holds a signed checkpoint of record"},
		{"trail and inbox wiped", func(string) bool { return false },
			func([]audit.Record) []audit.Record { return nil }, "but the trail ends at 0"},
		{"a witnessed record rewritten", func(string) bool { return true },
			func(recs []audit.Record) []audit.Record {
				// An early record: the witness holds checkpoints after it.
				recs[3].Outcome = "rewritten"
				return recs
			}, "differs from the checkpoint the witness holds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, witnessed := processedTrail(t, 20, key, 4)
			if len(witnessed) < 5 {
				t.Fatalf("the witness hook saw %d checkpoints, want one per 4 records", len(witnessed))
			}
			opts := audit.VerifyOptions{PublicKey: pubOf(key), Witness: witnessed}
			if rep, err := verifyFile(t, path, opts); err != nil || rep.Witnessed != len(witnessed) {
				t.Fatalf("untouched: %+v, %v", rep, err)
			}
			tamperFile(t, path, func(tx *bolt.Tx) error {
				if err := rewriteChain(tc.edit)(tx); err != nil {
					return err
				}
				return forgetEvents(tx, tc.keepEv)
			})
			if _, err := verifyFile(t, path, audit.VerifyOptions{}); err != nil && !strings.Contains(tc.name, "rewritten") {
				t.Fatalf("without key and witness: %v; the rewritten file should pass", err)
			}
			_, err := verifyFile(t, path, opts)
			wantBroken(t, err, tc.wantBad)
		})
	}
}

// A witness checkpoint must be signed by the key: a forged one is refused
// before the trail is read.
func TestVerifyRefusesForgedWitness(t *testing.T) {
	key := testKey(1)
	path, witnessed := processedTrail(t, 8, key, 4)
	w := witnessed[len(witnessed)-1]
	w.Seq += 100
	_, err := verifyFile(t, path, audit.VerifyOptions{PublicKey: pubOf(key), Witness: []audit.SignedCheckpoint{w}})
	wantBroken(t, err, "the signature does not match")
}

// SignCheckpoint anchors the newest record on demand, once.
func TestSignCheckpointOnDemand(t *testing.T) {
	db, _ := openAuditTest(t)
	ctx := context.Background()
	key := testKey(2)
	db.SetSigner(key, 1000)
	if cp, err := db.SignCheckpoint(ctx); err != nil || cp != nil {
		t.Fatalf("empty trail: %+v, %v; want nothing signed", cp, err)
	}
	writeAudit(t, db, 3) // the first record is signed at once: 1, cp, 3, 4
	cp, err := db.SignCheckpoint(ctx)
	if err != nil || cp == nil || cp.Seq != 4 {
		t.Fatalf("SignCheckpoint = %+v, %v; want record 4 signed", cp, err)
	}
	if err := cp.Verify(pubOf(key)); err != nil {
		t.Fatal(err)
	}
	if again, err := db.SignCheckpoint(ctx); err != nil || again != nil {
		t.Fatalf("nothing new: %+v, %v; want nothing signed", again, err)
	}
	rep, err := db.VerifyAuditWith(ctx, audit.VerifyOptions{PublicKey: pubOf(key)})
	if err != nil || rep.Signed != 2 || rep.Unsigned != 0 || rep.Records != 5 {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}

// BenchmarkAuditAppendSigned measures appending one record in its own
// transaction, with and without a signing key (a checkpoint every 1000
// records, and every record, the worst case).
func BenchmarkAuditAppendSigned(b *testing.B) {
	for _, tc := range []struct {
		name  string
		every int
	}{{"unsigned", 0}, {"every_1000", 1000}, {"every_1", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			clk := &auditClock{t: auditT0}
			db, err := Open(filepath.Join(b.TempDir(), "firebreak.db"), Options{NoSync: true, Now: clk.Now})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if tc.every > 0 {
				db.SetSigner(testKey(3), tc.every)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := db.Audit(ctx, benchRecord(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
