package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/internal/loadid"
)

// auditClock is an injectable auditClock for tests.
type auditClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *auditClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *auditClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var auditT0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func openAuditTest(t testing.TB) (*DB, *auditClock) {
	t.Helper()
	clk := &auditClock{t: auditT0}
	db, err := Open(filepath.Join(t.TempDir(), "firebreak.db"), Options{NoSync: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, clk
}

// fillAudit writes n records, one a second from auditT0: event e<i/4>, playbooks
// alternating pb-a, pb-b, pb-c, actions and outcomes cycling.
func fillAudit(t testing.TB, db *DB, clk *auditClock, n int) {
	t.Helper()
	ctx := context.Background()
	const per = 500
	for i := 0; i < n; i += per {
		var recs []audit.Record
		for j := i; j < min(n, i+per); j++ {
			recs = append(recs, audit.Record{
				Time:     auditT0.Add(time.Duration(j) * time.Second),
				Kind:     []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepSucceeded, audit.KindStepRefused}[j%4],
				EventID:  fmt.Sprintf("e%d", j/4),
				Playbook: []string{"pb-a", "pb-b", "pb-c"}[j%3],
				Action:   []string{"webhook.notify", "kubernetes.restart"}[j%2],
				Outcome:  []string{"accepted", "matched", "ok", "deduped"}[j%4],
			})
		}
		if err := db.Audit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Duration(n) * time.Second)
}

func TestListAuditFilters(t *testing.T) {
	db, clk := openAuditTest(t)
	fillAudit(t, db, clk, 400)
	all := func(pred func(seq uint64) bool) []uint64 {
		var out []uint64
		for s := uint64(1); s <= 400; s++ {
			if pred(s) {
				out = append(out, s)
			}
		}
		return out
	}
	i := func(s uint64) int { return int(s - 1) }
	tests := []struct {
		name string
		q    audit.Query
		want []uint64
	}{
		{"everything", audit.Query{}, all(func(uint64) bool { return true })},
		{"event id", audit.Query{EventID: "e7"}, []uint64{29, 30, 31, 32}},
		{"playbook", audit.Query{Playbook: "pb-b"}, all(func(s uint64) bool { return i(s)%3 == 1 })},
		{"action", audit.Query{Action: "kubernetes.restart"}, all(func(s uint64) bool { return i(s)%2 == 1 })},
		{"kind", audit.Query{Kind: audit.KindStepRefused}, all(func(s uint64) bool { return i(s)%4 == 3 })},
		{"outcome (refusal reason)", audit.Query{Outcome: "deduped"}, all(func(s uint64) bool { return i(s)%4 == 3 })},
		{"since", audit.Query{Since: auditT0.Add(390 * time.Second)}, all(func(s uint64) bool { return i(s) >= 390 })},
		{"until", audit.Query{Until: auditT0.Add(5 * time.Second)}, []uint64{1, 2, 3, 4, 5}},
		{"time range", audit.Query{Since: auditT0.Add(100 * time.Second), Until: auditT0.Add(110 * time.Second)}, all(func(s uint64) bool { return i(s) >= 100 && i(s) < 110 })},
		{"time range + playbook", audit.Query{Since: auditT0.Add(100 * time.Second), Until: auditT0.Add(120 * time.Second), Playbook: "pb-a"}, all(func(s uint64) bool { return i(s) >= 100 && i(s) < 120 && i(s)%3 == 0 })},
		{"event + kind", audit.Query{EventID: "e7", Kind: audit.KindMatched}, []uint64{30}},
		{"playbook + action + outcome", audit.Query{Playbook: "pb-c", Action: "webhook.notify", Outcome: "ok"}, all(func(s uint64) bool { return i(s)%3 == 2 && i(s)%2 == 0 && i(s)%4 == 2 })},
		{"empty range", audit.Query{Since: auditT0.Add(time.Hour)}, nil},
		{"unknown event", audit.Query{EventID: "nope"}, nil},
		{"unknown playbook", audit.Query{Playbook: "nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Limit = 1000
			recs, next, err := db.ListAudit(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if next != 0 {
				t.Errorf("next cursor = %d, want 0", next)
			}
			var got []uint64
			for _, r := range recs {
				got = append(got, r.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("seqs = %v\nwant   %v", got, tc.want)
			}
		})
	}
}

func TestListAuditPaging(t *testing.T) {
	db, clk := openAuditTest(t)
	fillAudit(t, db, clk, 5000)
	tests := []struct {
		name  string
		q     audit.Query
		limit int
		want  int
	}{
		{"all records in pages of 100", audit.Query{}, 100, 5000},
		{"one playbook in pages of 333", audit.Query{Playbook: "pb-a"}, 333, 1667},
		{"time range + playbook in pages of 7", audit.Query{Playbook: "pb-b", Since: auditT0.Add(1000 * time.Second), Until: auditT0.Add(2000 * time.Second)}, 7, 334},
		{"exactly one full page", audit.Query{Until: auditT0.Add(50 * time.Second)}, 50, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.Limit = tc.limit
			var seen []uint64
			pages := 0
			for {
				recs, next, err := db.ListAudit(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(recs) > tc.limit {
					t.Fatalf("page of %d records, limit %d", len(recs), tc.limit)
				}
				for _, r := range recs {
					if !tc.q.Match(&r) {
						t.Fatalf("record %d does not match the query", r.Seq)
					}
					if len(seen) > 0 && r.Seq <= seen[len(seen)-1] {
						t.Fatalf("record %d after %d: not in order or repeated", r.Seq, seen[len(seen)-1])
					}
					seen = append(seen, r.Seq)
				}
				if next == 0 {
					break
				}
				if next != recs[len(recs)-1].Seq {
					t.Fatalf("cursor %d is not the page's last record %d", next, recs[len(recs)-1].Seq)
				}
				q.After = next
			}
			if len(seen) != tc.want {
				t.Errorf("paged through %d records, want %d", len(seen), tc.want)
			}
			if wantPages := (tc.want + tc.limit - 1) / tc.limit; pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}
}

func TestAuditTimeIsMonotonic(t *testing.T) {
	db, clk := openAuditTest(t)
	ctx := context.Background()
	if err := db.Audit(ctx, audit.Record{Kind: "a", Time: auditT0.Add(time.Minute)}, audit.Record{Kind: "b", Time: auditT0}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(-time.Hour) // the auditClock steps back
	if err := db.Audit(ctx, audit.Record{Kind: "c"}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := db.ListAudit(ctx, audit.Query{Since: auditT0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("got %d records since the first one's time, want all 3: %+v", len(recs), recs)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 3 {
		t.Fatalf("verify = %d, %v", n, err)
	}
}

func TestAuditIndexBuiltForOldFiles(t *testing.T) {
	db, clk := openAuditTest(t)
	fillAudit(t, db, clk, 40)
	path := db.Path()
	// Make the file look like one written before the index existed.
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketAuditIdx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyIndexed)
	}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := db.ListAudit(context.Background(), audit.Query{EventID: "e3"})
	if err != nil || len(recs) != 4 {
		t.Fatalf("without an index: %d records, %v; want 4 by scanning", len(recs), err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, Options{NoSync: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	recs, _, err = db2.ListAudit(context.Background(), audit.Query{EventID: "e3"})
	if err != nil || len(recs) != 4 || recs[0].Seq != 13 {
		t.Fatalf("after reopening: %+v, %v", recs, err)
	}
}

func TestRetentionKeepsChainVerifiable(t *testing.T) {
	tests := []struct {
		name     string
		ret      Retention
		records  int
		wantLeft int // records left, including the checkpoint record(s)
	}{
		{"by age", Retention{MaxAge: 100 * time.Second}, 1000, 100 + 1},
		{"by count", Retention{MaxRecords: 250}, 1000, 250},
		{"by count over several chunks", Retention{MaxRecords: 10}, 12000, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := openAuditTest(t)
			ctx := context.Background()
			fillAudit(t, db, clk, tc.records)
			res, err := db.Compact(ctx, tc.ret)
			if err != nil {
				t.Fatal(err)
			}
			n, err := db.VerifyAudit(ctx)
			if err != nil {
				t.Fatalf("verify after compaction: %v", err)
			}
			if n != tc.wantLeft {
				t.Errorf("%d records left, want %d", n, tc.wantLeft)
			}
			if res.Checkpoint == nil || res.Checkpoint.Removed != uint64(res.AuditRemoved) {
				t.Fatalf("checkpoint %+v after removing %d", res.Checkpoint, res.AuditRemoved)
			}
			// The first kept record follows the checkpoint.
			recs, _, err := db.ListAudit(ctx, audit.Query{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if recs[0].Seq != res.Checkpoint.RemovedThrough+1 {
				t.Errorf("first record %d, checkpoint through %d", recs[0].Seq, res.Checkpoint.RemovedThrough)
			}
			// A second run at the limit removes nothing more.
			res2, err := db.Compact(ctx, tc.ret)
			if err != nil || res2.AuditRemoved != 0 {
				t.Errorf("second compaction removed %d, %v; want 0", res2.AuditRemoved, err)
			}
			// Index entries of removed records are gone with them.
			recs, _, err = db.ListAudit(ctx, audit.Query{EventID: "e0"})
			if err != nil || len(recs) != 0 {
				t.Errorf("event e0 after compaction: %d records, %v", len(recs), err)
			}
			// More writes chain onto the compacted trail.
			if err := db.Audit(ctx, audit.Record{Kind: audit.KindReceived, EventID: "late"}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.VerifyAudit(ctx); err != nil {
				t.Fatalf("verify after a later write: %v", err)
			}
		})
	}
}

func TestTamperingDetectedAfterCompaction(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(tx *bolt.Tx) error
	}{
		{"record edited", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			k, v := b.Cursor().First()
			k, v = append([]byte(nil), k...), sealedOf(v)
			var r map[string]any
			_ = json.Unmarshal(v[32:], &r)
			r["outcome"] = "ok-but-forged"
			body, _ := json.Marshal(r)
			return b.Put(k, append(v[:32:32], body...))
		}},
		{"record edited and rehashed", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			c := b.Cursor()
			c.First()
			k, v := c.Next()
			k, v = append([]byte(nil), k...), sealedOf(v)
			var r audit.Record
			_ = json.Unmarshal(v[32:], &r)
			r.Outcome = "forged"
			body, _ := json.Marshal(r)
			sum := auditSHA256(body)
			return b.Put(k, append(sum, body...))
		}},
		{"first kept record deleted", func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(bucketAudit).Cursor().First()
			return tx.Bucket(bucketAudit).Delete(append([]byte(nil), k...))
		}},
		{"checkpoint moved to hide more records", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			k, v := b.Cursor().First()
			k = append([]byte(nil), k...)
			cp, _ := readCheckpoint(tx)
			cp.RemovedThrough = btoi(k)
			cp.RemovedHash = fmt.Sprintf("%x", auditSHA256(sealedOf(v)[32:]))
			raw, _ := json.Marshal(cp)
			if err := tx.Bucket(bucketMeta).Put(keyAuditCheckpoint, raw); err != nil {
				return err
			}
			return b.Delete(k)
		}},
		{"checkpoint removed", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Delete(keyAuditCheckpoint)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := openAuditTest(t)
			ctx := context.Background()
			fillAudit(t, db, clk, 300)
			if _, err := db.Compact(ctx, Retention{MaxRecords: 100}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.VerifyAudit(ctx); err != nil {
				t.Fatalf("verify before tampering: %v", err)
			}
			if err := db.bolt.Update(tc.tamper); err != nil {
				t.Fatal(err)
			}
			if _, err := db.VerifyAudit(ctx); !errors.Is(err, audit.ErrChainBroken) {
				t.Fatalf("verify after tampering = %v, want audit.ErrChainBroken", err)
			}
		})
	}
}

func TestInboxRetentionKeepsPending(t *testing.T) {
	db, clk := openAuditTest(t)
	ctx := context.Background()
	var evs []event.Event
	for i := range 10 {
		evs = append(evs, event.Event{ID: fmt.Sprintf("ev%d", i), Source: "alertmanager", ReceivedAt: auditT0.Add(time.Duration(i) * time.Hour)})
	}
	seqs, err := appendPending(ctx, db, evs)
	if err != nil {
		t.Fatal(err)
	}
	// Events 0-5 are processed except 2, which is still pending.
	if err := db.Update(ctx, func(stx auditStateTx) error {
		for i, s := range seqs[:6] {
			if i == 2 {
				continue
			}
			if err := stx.Finish(s); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Hour) // now = auditT0+10h; cutoff at 5h30 ago = auditT0+4h30
	res, err := db.Compact(ctx, Retention{InboxMaxAge: 5*time.Hour + 30*time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.InboxRemoved != 4 { // ev0, ev1, ev3, ev4
		t.Fatalf("removed %d inbox events, want 4", res.InboxRemoved)
	}
	for i, s := range seqs {
		_, err := db.Event(ctx, s)
		gone := errors.Is(err, ErrNotFound)
		if want := i == 0 || i == 1 || i == 3 || i == 4; gone != want {
			t.Errorf("event %d: removed = %v, want %v (err %v)", i, gone, want, err)
		}
	}
	if db.PendingCount() != 5 {
		t.Errorf("pending = %d, want 5", db.PendingCount())
	}
	// An expired idempotency key no longer blocks the id; a kept one does.
	again, err := db.AppendEvents(ctx, []event.Event{evs[0], evs[2], evs[5]})
	if err != nil {
		t.Fatal(err)
	}
	if again[0] == 0 || again[1] != 0 || again[2] != 0 {
		t.Errorf("re-append sequences = %v, want [new 0 0]", again)
	}
}

func TestRedactorAndWrittenHook(t *testing.T) {
	db, _ := openAuditTest(t)
	ctx := context.Background()
	red, err := audit.NewRedactor(audit.RedactConfig{Keys: []string{"customer_ref"}, Patterns: []string{`PIN-\d{4}`}})
	if err != nil {
		t.Fatal(err)
	}
	db.SetRedactor(red.Record)
	obs := &kindCounter{}
	db.SetAuditObserver(obs)
	params := map[string]any{
		"url":     "https://hooks.example/x?token=abc123",
		"headers": map[string]any{"Authorization": "Bearer s3cr3t-t0ken-value", "X-Trace": "1"},
		"body":    map[string]any{"text": "use PIN-1234 and xoxb-1234567890-abcdefghij", "customer_ref": "C-99"},
	}
	if err := db.Audit(ctx, audit.Record{Kind: audit.KindStepSucceeded, EventID: "e", Data: map[string]any{"params": params}}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := db.ListAudit(ctx, audit.Query{EventID: "e"})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	got, _ := json.Marshal(recs[0].Data)
	want := `{"params":{"body":{"customer_ref":"[redacted]","text":"use [redacted] and [redacted]"},"headers":{"Authorization":"[redacted]","X-Trace":"1"},"url":"https://hooks.example/x?[redacted]"}}`
	if string(got) != want {
		t.Errorf("stored data:\n got %s\nwant %s", got, want)
	}
	if params["headers"].(map[string]any)["Authorization"] != "Bearer s3cr3t-t0ken-value" {
		t.Error("the redactor modified the caller's map")
	}
	// The secret is nowhere in the file.
	raw := auditRawFile(t, db)
	for _, secret := range []string{"s3cr3t-t0ken-value", "abc123", "PIN-1234", "C-99", "xoxb-1234567890"} {
		if auditContains(raw, secret) {
			t.Errorf("%q is in the database file", secret)
		}
	}
	if _, err := db.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := obs.counts(); got[audit.KindStepSucceeded] != 1 {
		t.Errorf("the audit observer saw %v", got)
	}
}

func TestDigestSeesEveryChange(t *testing.T) {
	db, clk := openAuditTest(t)
	ctx := context.Background()
	fillAudit(t, db, clk, 10)
	d0, err := db.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d1, _ := db.Digest(ctx); d1 != d0 {
		t.Fatal("digest is not stable")
	}
	changes := []struct {
		name string
		fn   func(tx *bolt.Tx) error
	}{
		{"state value", func(tx *bolt.Tx) error {
			b, err := tx.Bucket(bucketState).CreateBucketIfNotExists([]byte("budgets"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		}},
		{"meta value", func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("x"), nil) }},
		{"bucket sequence", func(tx *bolt.Tx) error { _, err := tx.Bucket(bucketInbox).NextSequence(); return err }},
	}
	prev := d0
	for _, c := range changes {
		if err := db.bolt.Update(c.fn); err != nil {
			t.Fatal(err)
		}
		d, err := db.Digest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d == prev {
			t.Errorf("%s: digest unchanged", c.name)
		}
		prev = d
	}
}

func TestEventsSinceFindsTheRange(t *testing.T) {
	db, _ := openAuditTest(t)
	ctx := context.Background()
	var evs []event.Event
	for i := range 1000 {
		at := auditT0.Add(time.Duration(i) * time.Second)
		if i%10 == 5 {
			at = at.Add(-3 * time.Second) // concurrent requests commit slightly out of order
		}
		evs = append(evs, event.Event{ID: fmt.Sprintf("ev%d", i), ReceivedAt: at})
	}
	if _, err := db.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for _, since := range []time.Duration{0, 1 * time.Second, 499 * time.Second, 502 * time.Second, 999 * time.Second, 2000 * time.Second} {
		var want []string
		for _, ev := range evs {
			if !ev.ReceivedAt.Before(auditT0.Add(since)) {
				want = append(want, ev.ID)
			}
		}
		var got []string
		err := db.EventsSince(ctx, auditT0.Add(since).UnixNano(), func(_ uint64, ev event.Event) error {
			got = append(got, ev.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("since +%s: %d events, want %d", since, len(got), len(want))
		}
	}
}

func TestRetentionBySize(t *testing.T) {
	db, clk := openAuditTest(t)
	ctx := context.Background()
	fillAudit(t, db, clk, 2000)
	storedSize := func() int64 {
		var n int64
		_ = db.bolt.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error { n += int64(len(v)); return nil })
		})
		return n
	}
	full, err := db.AuditBytes(ctx)
	if err != nil || full != storedSize() || full == 0 {
		t.Fatalf("AuditBytes = %d, %v; stored %d", full, err, storedSize())
	}
	limit := full / 4
	res, err := db.Compact(ctx, Retention{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := db.AuditBytes(ctx)
	if got != storedSize() {
		t.Errorf("AuditBytes = %d after compaction, stored %d", got, storedSize())
	}
	if got > limit || got < limit-2048 {
		t.Errorf("%d bytes kept, want at most %d and close to it", got, limit)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 2000-res.AuditRemoved+1 {
		t.Errorf("verify = %d, %v after removing %d", n, err, res.AuditRemoved)
	}
	if res2, err := db.Compact(ctx, Retention{MaxBytes: limit}); err != nil || res2.AuditRemoved != 0 {
		t.Errorf("second compaction removed %d, %v; want 0", res2.AuditRemoved, err)
	}
}

func TestListAuditPrefilterIsExact(t *testing.T) {
	db, _ := openAuditTest(t)
	ctx := context.Background()
	odd := `a<b>&"ü\` + "\n"
	if err := db.Audit(ctx,
		audit.Record{Kind: "k", EventID: odd, Action: odd, Outcome: "ok"},
		audit.Record{Kind: "k", EventID: "x", Outcome: "ok", Message: `"outcome":"deduped"`},
		audit.Record{Kind: "k", EventID: "y", Outcome: "deduped"},
	); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    audit.Query
		want string
	}{
		{audit.Query{EventID: odd}, "[1]"},
		{audit.Query{Action: odd}, "[1]"},
		{audit.Query{Outcome: "deduped"}, "[3]"},
		{audit.Query{Kind: "k", Outcome: "ok"}, "[1 2]"},
	} {
		recs, _, err := db.ListAudit(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, r := range recs {
			seqs = append(seqs, r.Seq)
		}
		if fmt.Sprint(seqs) != tc.want {
			t.Errorf("%+v: %v, want %s", tc.q, seqs, tc.want)
		}
	}
}

// TestPlaybookIndexPagesStayFull: the playbook index's keys only grow
// within each playbook, so its pages are filled before they split rather
// than left half-empty (issue 18 target 3: bytes on disk per event).
func TestPlaybookIndexPagesStayFull(t *testing.T) {
	db, _ := openAuditTest(t)
	// As the engine writes: a few records per transaction, most of one
	// playbook's, some of another's.
	for i := range 3000 {
		recs := []audit.Record{{Kind: audit.KindMatched, EventID: fmt.Sprintf("e%d", i), Playbook: "pb-a"}}
		if i%10 == 0 {
			recs = append(recs, audit.Record{Kind: audit.KindMatched, EventID: fmt.Sprintf("e%d", i), Playbook: "pb-b"})
		}
		if err := db.Audit(context.Background(), recs...); err != nil {
			t.Fatal(err)
		}
	}
	err := db.bolt.View(func(tx *boltTx) error {
		st := tx.Bucket(bucketAuditIdx).Bucket(idxPlaybook).Stats()
		if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.85 {
			t.Errorf("the playbook index's %d leaf pages are %.0f%% full, want at least 85%%", st.LeafPageN, 100*fill)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFileStopsGrowingUnderRetention: with retention on, a steady load —
// each minute, 200 events appended, each audited with three records and
// finished, then retention run with a ten-minute window — reaches a size
// the file then keeps: the pages retention frees are reused (issue 18
// target 3).
func TestFileStopsGrowingUnderRetention(t *testing.T) {
	ctx := context.Background()
	db, clk := openAuditTest(t)
	window := 10 * time.Minute
	var high []int64
	for minute := range 40 {
		evs := make([]event.Event, 200)
		for i := range evs {
			evs[i] = event.Event{ID: fmt.Sprintf("am:%04d-%03d", minute, i), Source: "alertmanager", Name: "KubePodCrashLooping", Status: event.StatusFiring,
				Labels: map[string]string{"namespace": "shop", "pod": fmt.Sprintf("cart-%d", i)}, ReceivedAt: clk.Now()}
		}
		seqs, err := appendPending(ctx, db, evs)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(ctx, func(stx state.Tx) error {
			tx := stx.(*Tx)
			for i, seq := range seqs {
				for _, k := range []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepDryRun} {
					if err := tx.Audit(audit.Record{Kind: k, EventID: evs[i].ID, Playbook: "restart-crashloop", Outcome: "ok",
						Data: map[string]any{"labels": evs[i].Labels}}); err != nil {
						return err
					}
				}
				if err := tx.Finish(seq); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		if _, err := db.Compact(ctx, Retention{MaxAge: window, InboxMaxAge: window}); err != nil {
			t.Fatal(err)
		}
		sp, err := db.Space(ctx)
		if err != nil {
			t.Fatal(err)
		}
		high = append(high, sp.HighWater)
	}
	// The window is full from minute 10 on; give the freelist five more.
	settled := high[15]
	for m, h := range high[16:] {
		if h > settled+settled/10 {
			t.Fatalf("minute %d: the file's pages reach %d bytes, past the %d they had settled at by minute 15 (high-water marks %v)", m+16, h, settled, high)
		}
	}
	t.Logf("high-water marks by minute: %v", high)
}

// TestIndexEntriesOfBothFormats: the event and playbook indexes hold one
// entry per value per transaction, and a file whose index was built in
// the earlier format (one key per record, as ensureAuditIndex builds it)
// and then written in the new one answers every event-id and playbook
// query, page for page, as a scan of the whole trail does — before and
// after retention removed the older half.
func TestIndexEntriesOfBothFormats(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	clk := &auditClock{t: auditT0}
	idOf := func(i int) string { return fmt.Sprintf("am:%016x", loadid.Scatter(uint64(i), 64)) }
	open := func() *DB {
		db, err := Open(path, Options{NoSync: true, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	write := func(db *DB, from, to int) {
		for i := from; i < to; i++ {
			id := idOf(i)
			clk.Advance(time.Second)
			if err := db.Audit(ctx,
				audit.Record{Kind: audit.KindReceived, EventID: id},
				audit.Record{Kind: audit.KindMatched, EventID: id, Playbook: "pb-a"},
				audit.Record{Kind: audit.KindStepStarted, EventID: id, Playbook: "pb-a"},
				audit.Record{Kind: audit.KindMatched, EventID: id, Playbook: "pb-b"},
			); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				if err := db.Audit(ctx, audit.Record{Kind: audit.KindStepSucceeded, EventID: id, Playbook: "pb-a"}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	db := open()
	write(db, 0, 30)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Drop the index: opening rebuilds it in the earlier format.
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketAuditIdx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyIndexed)
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db = open()
	defer func() { _ = db.Close() }()
	write(db, 30, 60)
	// An old event gets records in the new format too.
	old := idOf(4)
	if err := db.Audit(ctx, audit.Record{Kind: audit.KindApproval, EventID: old, Playbook: "pb-a"}); err != nil {
		t.Fatal(err)
	}

	keysOf := func(value string) (n int) {
		_ = db.bolt.View(func(tx *boltTx) error {
			c := indexBucket(tx, idxEvent).Cursor()
			p := indexPrefix(value)
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
				n++
			}
			return nil
		})
		return n
	}
	if n := keysOf(old); n != 6 {
		t.Errorf("event 4 has %d index keys, want 6 (5 of the earlier format, 1 entry)", n)
	}
	if n := keysOf(idOf(40)); n != 2 {
		t.Errorf("event 40 has %d index keys, want 2 (one per transaction)", n)
	}

	check := func(when string) {
		all, _, err := db.ListAudit(ctx, audit.Query{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		queries := []audit.Query{{Playbook: "pb-a", Limit: 7}, {Playbook: "pb-b", Limit: 50}, {EventID: old, Limit: 2}}
		for i := 0; i < 60; i += 7 {
			queries = append(queries, audit.Query{EventID: idOf(i), Limit: 3})
		}
		if len(all) > 100 {
			queries = append(queries, audit.Query{Playbook: "pb-a", After: all[len(all)/2].Seq, Since: all[10].Time, Limit: 5})
		}
		for _, q := range queries {
			var want []uint64
			for i := range all {
				if q.Match(&all[i]) && all[i].Seq > q.After {
					want = append(want, all[i].Seq)
				}
			}
			var got []uint64
			for page := q; ; {
				recs, next, err := db.ListAudit(ctx, page)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, seqsOf(recs)...)
				if next == 0 {
					break
				}
				page.After = next
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %+v pages through %v, the trail holds %v", when, q, got, want)
			}
		}
	}
	check("both formats")
	if _, err := db.Compact(ctx, Retention{MaxRecords: 60}); err != nil {
		t.Fatal(err)
	}
	check("after retention")
	if _, err := db.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	// Retention took every record of the first forty-odd events: their
	// entries went with them, of either format.
	for _, i := range []int{1, 2, 40} {
		if n := keysOf(idOf(i)); n != 0 {
			t.Errorf("event %d's records were removed, but %d index keys remain", i, n)
		}
	}
}
