package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/engine/event"
)

// walEvents makes n events of one request: one body, as the receiver
// gives them (the same slice).
func walEvents(prefix string, n int) []event.Event {
	body := []byte(fmt.Sprintf(`{"request": %q, "alerts": [1, 2, 3]}`, prefix))
	at := time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{
			ID: fmt.Sprintf("%s-%d", prefix, i), Source: "alertmanager",
			Labels: map[string]string{"alertname": "A", "i": fmt.Sprint(i)}, StartsAt: at,
			ReceivedAt: at, Raw: body,
		}
	}
	return evs
}

// openWALTest opens a store with the write-ahead log in a new directory.
func openWALTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "firebreak.db"), Options{WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// holdMover keeps the mover from moving until the returned function (also
// run at cleanup, before the store closes) is called: what is appended
// meanwhile is in the log only.
func holdMover(t *testing.T, db *DB) (release func()) {
	db.wal.gate.Lock()
	release = sync.OnceFunc(db.wal.gate.Unlock)
	t.Cleanup(release)
	return release
}

// dumpInbox returns every key and value of the inbox buckets, as text.
func dumpInbox(t *testing.T, db *DB) string {
	t.Helper()
	var b strings.Builder
	err := db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketInbox, bucketPending, bucketSeen, bucketRaw} {
			fmt.Fprintf(&b, "[%s] seq=%d\n", name, tx.Bucket(name).Sequence())
			err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				fmt.Fprintf(&b, "%q = %q\n", k, v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The log changes when an event is durable, not what the file holds: the
// same requests leave byte-identical inbox buckets with and without it.
func TestWALInboxStoresWhatTheFileDid(t *testing.T) {
	ctx := context.Background()
	requests := [][]event.Event{walEvents("one", 1), walEvents("ten", 10), walEvents("one", 1), walEvents("two", 2)}
	requests = append(requests, []event.Event{{ID: "bare", Source: "test"}})
	dumps := map[bool]string{}
	for _, noWAL := range []bool{true, false} {
		db, err := Open(filepath.Join(t.TempDir(), "firebreak.db"), Options{WAL: !noWAL})
		if err != nil {
			t.Fatal(err)
		}
		var got [][]uint64
		for _, r := range requests {
			seqs, err := db.AppendEvents(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, seqs)
		}
		want := "[[1] [2 3 4 5 6 7 8 9 10 11] [0] [12 13] [14]]"
		if fmt.Sprint(got) != want {
			t.Fatalf("noWAL=%v: sequences %v, want %s", noWAL, got, want)
		}
		// Reads see every acknowledged event at once.
		pending, err := db.Pending(ctx, 0, 100)
		if err != nil || len(pending) != 14 {
			t.Fatalf("noWAL=%v: pending %v, %v", noWAL, pending, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db, err = Open(db.Path(), Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		dumps[noWAL] = dumpInbox(t, db)
		_ = db.Close()
	}
	if dumps[true] != dumps[false] {
		t.Errorf("the inbox differs:\nwithout the log:\n%s\nwith it:\n%s", dumps[true], dumps[false])
	}
}

// copyTree copies the database file and its log as a crash would leave
// them: what is on disk at this moment.
func copyTree(t *testing.T, path, to string) string {
	t.Helper()
	dst := filepath.Join(to, filepath.Base(path))
	if err := os.MkdirAll(to, 0o750); err != nil {
		t.Fatal(err)
	}
	copyFile(t, path, dst)
	entries, err := os.ReadDir(walDir(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(walDir(dst), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyFile(t, filepath.Join(walDir(path), e.Name()), filepath.Join(walDir(dst), e.Name()))
	}
	return dst
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// An event acknowledged while only the log holds it survives a crash:
// the next open moves it into the file, once, and its id stays known —
// also when that open has the log turned off.
func TestWALRecoveryMovesAcknowledgedEvents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, "a", "firebreak.db"), Options{WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() }) // after holdMover's release
	if _, err := db.AppendEvents(ctx, walEvents("moved", 3)); err != nil {
		t.Fatal(err)
	}
	if err := db.wal.sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Hold the mover: what follows is only in the log.
	release := holdMover(t, db)
	var acked [][]uint64
	for i := range 5 {
		seqs, err := db.AppendEvents(ctx, walEvents(fmt.Sprint("logged", i), 1+i))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, seqs)
	}
	if n := db.PendingCount(); n != 3+15 {
		t.Errorf("pending count %d while the mover is held, want 18", n)
	}
	crashed := copyTree(t, db.Path(), filepath.Join(dir, "b"))
	release()

	// A reader of the file alone would miss them: it is refused.
	if _, err := Open(crashed, Options{ReadOnly: true}); !errors.Is(err, ErrWALUnmoved) {
		t.Fatalf("read-only open of a file with unmoved events: %v, want ErrWALUnmoved", err)
	} else if !strings.Contains(err.Error(), "15 accepted event(s)") {
		t.Errorf("error does not count the events: %v", err)
	}
	before := ""
	for round := range 2 {
		// The second round runs with the log turned off: what the log
		// held is still recovered, and the log removed.
		re, err := Open(crashed, Options{WAL: round == 0})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(walDir(crashed)); round == 1 && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("with the log turned off its directory is still there: %v", err)
		}
		pending, err := re.Pending(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		// Round 1 also has the event round 0 added after the recovery.
		if want := 18 + round; len(pending) != want || pending[0] != 1 || pending[want-1] != uint64(want) {
			t.Fatalf("round %d: pending after recovery %v, want 1..%d", round, pending, want)
		}
		for i, seqs := range acked {
			for j, seq := range seqs {
				ev, err := re.Event(ctx, seq)
				if err != nil {
					t.Fatalf("round %d: event %d: %v", round, seq, err)
				}
				if want := fmt.Sprintf("logged%d-%d", i, j); ev.ID != want || !bytes.Contains(ev.Raw, []byte("logged")) {
					t.Errorf("round %d: event %d is %q (raw %s), want %s", round, seq, ev.ID, ev.Raw, want)
				}
			}
		}
		// The ids are durable with the events: a retry is a duplicate.
		seqs, err := re.AppendEvents(ctx, walEvents("logged4", 5))
		if err != nil || fmt.Sprint(seqs) != "[0 0 0 0 0]" {
			t.Errorf("round %d: a retried request got %v, %v; want duplicates", round, seqs, err)
		}
		// New events continue the sequence.
		seqs, err = re.AppendEvents(ctx, walEvents(fmt.Sprint("after", round), 1))
		if err != nil || seqs[0] != uint64(19+round) {
			t.Errorf("round %d: the next event got %v, %v; want %d", round, seqs, err, 19+round)
		}
		if err := re.Close(); err != nil {
			t.Fatal(err)
		}
		ro, err := Open(crashed, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: read-only open after a clean stop: %v", round, err)
		}
		dump := dumpInbox(t, ro)
		_ = ro.Close()
		if round == 1 && strings.Count(dump, "logged") != strings.Count(before, "logged") {
			t.Errorf("a second open moved the logged events again:\n%s\nthen\n%s", before, dump)
		}
		before = dump
	}
}

// A duplicate is refused while its first delivery is only in the log, and
// after it was moved; concurrent deliveries of one id store it once.
func TestWALDuplicatesBeforeAndAfterTheMove(t *testing.T) {
	ctx := context.Background()
	db := openWALTest(t)
	release := holdMover(t, db)
	var wg sync.WaitGroup
	results := make([][]uint64, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs, err := db.AppendEvents(ctx, walEvents("same", 2))
			if err != nil {
				t.Error(err)
			}
			results[i] = seqs
		}()
	}
	wg.Wait()
	stored := 0
	for _, r := range results {
		for _, s := range r {
			if s != 0 {
				stored++
			}
		}
	}
	if stored != 2 {
		t.Errorf("16 concurrent deliveries of 2 events stored %d, want 2: %v", stored, results)
	}
	release()
	if err := db.wal.sync(ctx); err != nil {
		t.Fatal(err)
	}
	seqs, err := db.AppendEvents(ctx, walEvents("same", 2))
	if err != nil || fmt.Sprint(seqs) != "[0 0]" {
		t.Errorf("after the move: %v, %v; want duplicates", seqs, err)
	}
	if _, ev, err := db.EventByID(ctx, "same-1"); err != nil || ev.ID != "same-1" {
		t.Errorf("EventByID: %v %v", ev.ID, err)
	}
}

// A request that no log segment holds goes to the file directly, in
// sequence with the events logged before it.
func TestWALRequestTooLargeForASegment(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "firebreak.db"), Options{WAL: true, walSegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.AppendEvents(ctx, walEvents("small", 3)); err != nil {
		t.Fatal(err)
	}
	big := walEvents("big", 2)
	body := []byte(`{"pad": "` + strings.Repeat("x", 100<<10) + `"}`)
	for i := range big {
		big[i].Raw = body
	}
	seqs, err := db.AppendEvents(ctx, big)
	if err != nil || fmt.Sprint(seqs) != "[4 5]" {
		t.Fatalf("large request: %v, %v; want [4 5]", seqs, err)
	}
	seqs, err = db.AppendEvents(ctx, walEvents("later", 1))
	if err != nil || fmt.Sprint(seqs) != "[6]" {
		t.Fatalf("next request: %v, %v; want [6]", seqs, err)
	}
	pending, err := db.Pending(ctx, 0, 10)
	if err != nil || fmt.Sprint(pending) != "[1 2 3 4 5 6]" {
		t.Fatalf("pending %v, %v", pending, err)
	}
	ev, err := db.Event(ctx, 5)
	if err != nil || len(ev.Raw) != len(body) {
		t.Errorf("large event: %d bytes of body, %v", len(ev.Raw), err)
	}
}

// The engine hears of events when they become pending, which with the log
// is after AppendEvents returned.
func TestWALPendingHook(t *testing.T) {
	ctx := context.Background()
	db := openWALTest(t)
	called := make(chan struct{}, 100)
	remove := db.AddPendingHook(func() { called <- struct{}{} })
	release := holdMover(t, db)
	if _, err := db.AppendEvents(ctx, walEvents("hook", 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-called:
		t.Fatal("the hook ran before the event was moved")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("the hook did not run after the move")
	}
	var pending []uint64
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error { pending = append(pending, btoi(k)); return nil })
	})
	if fmt.Sprint(pending) != "[1]" {
		t.Errorf("when the hook ran the file's pending set was %v", pending)
	}
	remove()
	if _, err := db.AppendEvents(ctx, walEvents("hook2", 1)); err != nil {
		t.Fatal(err)
	}
	_ = db.wal.sync(ctx)
	select {
	case <-called:
		t.Error("a removed hook ran")
	case <-time.After(50 * time.Millisecond):
	}
}

// A file restored from a backup beside the log of a later run is refused:
// the log's events after the backup would be moved in again as pending and
// their steps run twice. With the log moved aside it opens.
func TestWALRefusesARestoredFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "firebreak.db")
	run := func(prefix string) {
		t.Helper()
		db, err := Open(path, Options{WAL: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.AppendEvents(ctx, walEvents(prefix, 2)); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run("first")
	copyFile(t, path, filepath.Join(dir, "backup.db"))
	run("second")
	run("third") // a clean stop and start in between changes nothing
	copyFile(t, filepath.Join(dir, "backup.db"), path)
	if _, err := Open(path, Options{WAL: true}); !errors.Is(err, ErrWALForeign) {
		t.Fatalf("a restored file beside a later log opened: %v, want ErrWALForeign", err)
	}
	if err := os.Rename(walDir(path), filepath.Join(dir, "aside")); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{WAL: true})
	if err != nil {
		t.Fatalf("with the log moved aside: %v", err)
	}
	defer db.Close()
	pending, err := db.Pending(ctx, 0, 10)
	if err != nil || fmt.Sprint(pending) != "[1 2]" {
		t.Errorf("pending %v, %v; want the backup's [1 2]", pending, err)
	}
	seqs, err := db.AppendEvents(ctx, walEvents("fourth", 1))
	if err != nil || fmt.Sprint(seqs) != "[3]" {
		t.Errorf("next event %v, %v", seqs, err)
	}
}
