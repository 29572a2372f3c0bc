package store

import (
	"context"
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
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "firebreak.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

func TestAppendEventsIsIdempotentAndDurable(t *testing.T) {
	db, path := openTemp(t)
	ctx := context.Background()
	evs := []event.Event{{ID: "a", Source: "test"}, {ID: "b", Source: "test"}, {ID: "a", Source: "test"}}
	seqs, err := db.AppendEvents(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	if seqs[0] == 0 || seqs[1] == 0 || seqs[2] != 0 {
		t.Fatalf("seqs = %v, want two new and the repeated id a duplicate", seqs)
	}
	seqs2, err := db.AppendEvents(ctx, evs[:2])
	if err != nil || seqs2[0] != 0 || seqs2[1] != 0 {
		t.Fatalf("second append = %v, %v; want both duplicates", seqs2, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	pend, err := db2.Pending(ctx, 0, 10)
	if err != nil || len(pend) != 2 {
		t.Fatalf("pending after reopen = %v, %v; want 2", pend, err)
	}
	ev, err := db2.Event(ctx, pend[1])
	if err != nil || ev.ID != "b" {
		t.Fatalf("event %d = %+v, %v", pend[1], ev, err)
	}
	if err := db2.Update(ctx, func(tx state.Tx) error { return tx.Finish(pend[0]) }); err != nil {
		t.Fatal(err)
	}
	if n := db2.PendingCount(); n != 1 {
		t.Fatalf("pending after finish = %d, want 1", n)
	}
}

// appendFromWriters appends writers×each one-event requests from writers
// goroutines at once.
func appendFromWriters(t *testing.T, db *DB, writers, each int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := db.AppendEvents(context.Background(), []event.Event{{ID: fmt.Sprintf("%d-%d", w, i)}}); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()
}

func TestGroupCommitSharesTransactions(t *testing.T) {
	db, _ := openTemp(t)
	const writers, each = 32, 20
	appendFromWriters(t, db, writers, each)
	commits, fns := db.CommitStats()
	if fns != writers*each {
		t.Fatalf("functions committed = %d, want %d", fns, writers*each)
	}
	if commits >= fns {
		t.Fatalf("commits = %d for %d functions: concurrent writers did not share commits", commits, fns)
	}
	if n := db.PendingCount(); n != writers*each {
		t.Fatalf("pending = %d", n)
	}
}

// With the write-ahead log, concurrent appends share its flushes, and the
// mover carries many of them in one commit of the file.
func TestWALFlushesAreShared(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "firebreak.db"), Options{WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	const writers, each = 32, 20
	appendFromWriters(t, db, writers, each)
	if n := db.PendingCount(); n != writers*each {
		t.Fatalf("pending = %d", n)
	}
	if err := db.syncInbox(ctx); err != nil {
		t.Fatal(err)
	}
	st := db.wal.log.Stats()
	if st.Records != writers*each || st.Syncs == 0 || st.Flushes >= writers*each {
		t.Errorf("log stats %+v for %d appends: concurrent appends did not share flushes", st, writers*each)
	}
	commits, _ := db.CommitStats()
	if commits >= writers*each/2 {
		t.Errorf("%d commits of the file moved %d events: the mover did not batch them", commits, writers*each)
	}
	pend, err := db.Pending(ctx, 0, 1000)
	if err != nil || len(pend) != writers*each {
		t.Fatalf("pending %d, %v", len(pend), err)
	}
}

func TestFailingFunctionDoesNotSinkItsBatch(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Update(ctx, func(tx state.Tx) error {
				if err := tx.Put("t", fmt.Sprint(i), []byte("x")); err != nil {
					return err
				}
				if i == 7 {
					return boom
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 7) != errors.Is(err, boom) {
			t.Fatalf("function %d: err = %v", i, err)
		}
	}
	_ = db.View(ctx, func(tx state.Tx) error {
		for i := range errs {
			if got := tx.Get("t", fmt.Sprint(i)) != nil; got != (i != 7) {
				t.Errorf("key %d stored = %v", i, got)
			}
		}
		return nil
	})
}

func writeAudit(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := db.Audit(context.Background(), audit.Record{Kind: audit.KindReceived, EventID: fmt.Sprintf("e%d", i), Time: time.Unix(int64(1700000000+i), 0)}); err != nil {
			t.Fatal(err)
		}
	}
}

// tamper edits the raw bbolt file the way an attacker with file access would.
func tamper(t *testing.T, path string, fn func(b *bolt.Bucket, meta *bolt.Bucket) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketAudit), tx.Bucket(bucketMeta)) }); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(b, meta *bolt.Bucket) error
		wantBad string
	}{
		{"untouched", nil, ""},
		{"record content edited", func(b, _ *bolt.Bucket) error {
			v := sealedOf(b.Get(itob(5)))
			v[len(v)-3] ^= 1
			return b.Put(itob(5), v)
		}, "record 5: content does not match its hash"},
		{"record edited and its hash recomputed", func(b, _ *bolt.Bucket) error {
			v := sealedOf(b.Get(itob(5)))
			body := []byte(string(v[32:]))
			body = []byte(replaceOnce(string(body), `"e4"`, `"eX"`))
			return b.Put(itob(5), append(sum(body), body...))
		}, "record 6: previous-hash link does not match record 5"},
		{"record removed", func(b, _ *bolt.Bucket) error { return b.Delete(itob(4)) }, "record 5: records 4 to 4 are missing"},
		{"newest record removed", func(b, _ *bolt.Bucket) error { return b.Delete(itob(10)) }, "record 10: trail ends at 9 but the head says 10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, path := openTemp(t)
			writeAudit(t, db, 10)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				tamper(t, path, tc.edit)
			}
			db2, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db2.Close()
			n, err := db2.VerifyAudit(context.Background())
			if tc.wantBad == "" {
				if err != nil || n != 10 {
					t.Fatalf("verify = %d, %v; want 10 records intact", n, err)
				}
				return
			}
			if !errors.Is(err, audit.ErrChainBroken) || !contains(err.Error(), tc.wantBad) {
				t.Fatalf("verify error = %v, want one naming %q", err, tc.wantBad)
			}
		})
	}
}

func TestListAuditFiltersAndPages(t *testing.T) {
	db, _ := openTemp(t)
	writeAudit(t, db, 25)
	ctx := context.Background()
	var all []audit.Record
	var cursor uint64
	for pages := 0; ; pages++ {
		recs, next, err := db.ListAudit(ctx, audit.Query{After: cursor, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
		if next == 0 {
			if pages != 2 {
				t.Fatalf("pages = %d, want 3", pages+1)
			}
			break
		}
		cursor = next
	}
	if len(all) != 25 || all[24].Seq != 25 {
		t.Fatalf("paged %d records", len(all))
	}
	recs, _, _ := db.ListAudit(ctx, audit.Query{EventID: "e7"})
	if len(recs) != 1 || recs[0].Seq != 8 {
		t.Fatalf("event filter = %+v", recs)
	}
	recs, _, _ = db.ListAudit(ctx, audit.Query{Since: time.Unix(1700000020, 0), Until: time.Unix(1700000022, 0)})
	if len(recs) != 2 {
		t.Fatalf("time filter = %d records, want 2", len(recs))
	}
}

func TestReadOnlyOpenWhileHeld(t *testing.T) {
	_, path := openTemp(t)
	_, err := Open(path, Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only open of a held file = %v, want ErrLocked", err)
	}
}
