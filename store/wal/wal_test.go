package wal

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many concurrent writers with real fdatasync; everything acknowledged
// comes back exactly once, in log order, where Start/End said.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 * BlockSize}
	l, got := openCollect(t, dir, opts)
	if len(got) != 0 {
		t.Fatalf("new log recovered %d records", len(got))
	}
	const writers, perWriter = 16, 200
	written := make([][]rec, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(1, uint64(g)))
			for n := 0; n < perWriter; {
				k := min(1+rng.IntN(3), perWriter-n) // 1..3 records per Write
				ps := make([][]byte, k)
				for i := range ps {
					ps[i] = randPayload(rng, rng.IntN(3001))
				}
				c, err := l.Write(ps...)
				if err != nil {
					t.Error(err)
					return
				}
				if err := c.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
				if c.Err() != nil {
					t.Errorf("Err after Done: %v", c.Err())
				}
				written[g] = append(written[g], commitRecs(c, ps...)...)
				n += k
			}
		})
	}
	wg.Wait()
	st := l.Stats()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Records != writers*perWriter {
		t.Errorf("Stats.Records = %d, want %d", st.Records, writers*perWriter)
	}
	if st.Syncs == 0 || st.Syncs >= st.Records {
		t.Errorf("Stats.Syncs = %d for %d records: no group commit", st.Syncs, st.Records)
	}
	t.Logf("stats %+v", st)

	got = recoverAll(t, dir, opts)
	byPos := map[Pos]rec{}
	for i, r := range got {
		if i > 0 && !got[i-1].at.Less(r.at) {
			t.Fatalf("recovered records out of order: %v then %v", got[i-1], r)
		}
		byPos[r.at] = r
	}
	if len(got) != writers*perWriter {
		t.Fatalf("recovered %d records, want %d", len(got), writers*perWriter)
	}
	if last := got[len(got)-1].at.Segment; last < 3 {
		t.Errorf("records span segments up to %d only: no roll tested", last)
	}
	for g, ws := range written {
		for i, w := range ws {
			r, ok := byPos[w.at]
			if !ok {
				t.Fatalf("writer %d record %d at %v not recovered", g, i, w.at)
			}
			if r.end != w.end || !bytes.Equal(r.payload, w.payload) {
				t.Fatalf("writer %d record %d: recovered %v, wrote %v", g, i, r, w)
			}
			if i > 0 && !ws[i-1].at.Less(w.at) {
				t.Fatalf("writer %d: record %d at %v not after %v", g, i, w.at, ws[i-1].at)
			}
			delete(byPos, w.at) // exactly once
		}
	}
}

func TestTooLarge(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4 * BlockSize, NoSync: true}
	l, _ := openCollect(t, dir, opts)
	maxLen := 4*BlockSize - BlockSize - headerSize
	if _, err := l.Write(make([]byte, maxLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write(%d bytes) = %v, want ErrTooLarge", maxLen+1, err)
	}
	small := []byte("kept out")
	if _, err := l.Write(small, make([]byte, maxLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write(small, too large) = %v, want ErrTooLarge", err)
	}
	// The largest payload fits, even when the current segment is not empty.
	first := randPayload(rand.New(rand.NewPCG(2, 1)), 5000)
	c1 := mustWrite(t, l, first)
	big := randPayload(rand.New(rand.NewPCG(2, 2)), maxLen)
	c2 := mustWrite(t, l, big)
	mustWait(t, c1)
	mustWait(t, c2)
	if c2.Start()[0].Segment == c1.Start()[0].Segment {
		t.Errorf("max payload did not roll to a new segment")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := append(commitRecs(c1, first), commitRecs(c2, big)...)
	if d := sameRecs(recoverAll(t, dir, opts), want); d != "" {
		t.Fatal(d)
	}

	for _, size := range []int64{4096, 3 * BlockSize, 4*BlockSize + 1} {
		if _, err := Open(t.TempDir(), Options{SegmentSize: size}, nil); err == nil {
			t.Errorf("Open with SegmentSize %d succeeded", size)
		}
	}
}

// Close flushes what is queued; Write after Close fails.
func TestClose(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 8 * BlockSize}
	l, _ := openCollect(t, dir, opts)
	rng := rand.New(rand.NewPCG(3, 3))
	var want []rec
	var commits []*Commit
	for range 300 {
		p := randPayload(rng, rng.IntN(200))
		c := mustWrite(t, l, p)
		commits = append(commits, c)
		want = append(want, commitRecs(c, p)...)
	}
	empty := mustWrite(t, l)
	select {
	case <-empty.Done():
	default:
		t.Fatal("empty Write's Commit is not done")
	}
	if empty.Err() != nil || len(empty.Start()) != 0 {
		t.Fatalf("empty Write: err %v, %d starts", empty.Err(), len(empty.Start()))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range commits {
		select {
		case <-c.Done():
		default:
			t.Fatalf("commit %d not done after Close", i)
		}
		if c.Err() != nil {
			t.Fatalf("commit %d: %v", i, c.Err())
		}
	}
	if _, err := l.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
	if _, err := l.Write(); !errors.Is(err, ErrClosed) {
		t.Fatalf("empty Write after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	if d := sameRecs(recoverAll(t, dir, opts), want); d != "" {
		t.Fatal(d)
	}
}

func TestWaitContext(t *testing.T) {
	l, _ := openCollect(t, t.TempDir(), Options{SegmentSize: 4 * BlockSize, NoSync: true})
	release := make(chan struct{})
	l.hooks.Store(&hooks{sync: func(uint64) error { <-release; return nil }})
	c := mustWrite(t, l, []byte("slow"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait during a stuck flush = %v, want DeadlineExceeded", err)
	}
	if c.Err() == nil {
		t.Fatal("Err before Done is nil")
	}
	close(release)
	mustWait(t, c)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// With Release following the writer, segment files are recycled and
// their number stays bounded.
func TestReleaseRecycles(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4 * BlockSize}
	l, _ := openCollect(t, dir, opts)
	rng := rand.New(rand.NewPCG(4, 4))
	var kept []rec // records written at or after the last Release position
	var rel Pos
	maxFiles := 0
	for range 200 { // one block per flush, so 4 flushes per segment: 50 segments
		p := randPayload(rng, 1000+rng.IntN(2000))
		c := mustWrite(t, l, p)
		mustWait(t, c)
		kept = append(kept, commitRecs(c, p)...)
		rel = c.Start()[0]
		l.Release(rel)
		j := 0
		for j < len(kept) && kept[j].at.Segment < rel.Segment {
			j++
		}
		kept = kept[j:]
		// (A spare being zeroed is in the directory before Stats counts it.)
		maxFiles = max(maxFiles, l.Stats().Segments, len(segFiles(t, dir)))
	}
	if rel.Segment < 40 {
		t.Fatalf("only reached segment %d", rel.Segment)
	}
	// The current segment, one spare being handed over and at most two
	// recycled spares.
	if maxFiles > 4 {
		t.Errorf("up to %d segment files with Release following", maxFiles)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st, n := l.Stats(), len(segFiles(t, dir)); st.Segments != n {
		t.Errorf("Stats.Segments = %d, %d files in dir", st.Segments, n)
	}
	got := recoverAll(t, dir, opts)
	if d := sameRecs(got, kept); d != "" {
		t.Fatalf("after Release(%v): %s", rel, d)
	}
	if n := len(segFiles(t, dir)); n > 4 {
		t.Errorf("%d segment files after reopening", n)
	}
}

// Recycled spares carry stale records that validate under their old
// numbers; Open must not return any of them.
func TestOpenRecyclesEmpty(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4 * BlockSize, NoSync: true}
	for i := range 5 {
		l, got := openCollect(t, dir, opts)
		if len(got) != 0 {
			t.Fatalf("open %d: %d records from an empty log", i, len(got))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segFiles(t, dir)); n > 3 {
		t.Errorf("%d segment files after 5 empty opens", n)
	}
}

var errInjected = errors.New("injected failure")

// A failed pwrite or fdatasync fails its flush (and the Writes queued
// behind it); later Writes go to a new segment and everything acknowledged
// is recovered.
func TestFailedFlush(t *testing.T) {
	for _, mode := range []string{"write", "fdatasync"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 16 * BlockSize, NoSync: true}
			l, _ := openCollect(t, dir, opts)
			var failNext atomic.Bool
			h := &hooks{}
			fail := func() error {
				if failNext.CompareAndSwap(true, false) {
					return errInjected
				}
				return nil
			}
			if mode == "write" {
				h.write = func(uint64, uint64, int64, []byte) error { return fail() }
			} else {
				h.sync = func(uint64) error { return fail() }
			}
			l.hooks.Store(h)
			rng := rand.New(rand.NewPCG(5, 5))
			var acked, failed []rec

			for range 5 {
				p := randPayload(rng, 100)
				c := mustWrite(t, l, p)
				mustWait(t, c)
				acked = append(acked, commitRecs(c, p)...)
			}
			failNext.Store(true)
			ps := [][]byte{randPayload(rng, 10), randPayload(rng, 0), randPayload(rng, 300)}
			c := mustWrite(t, l, ps...)
			err := c.Wait(context.Background())
			if !errors.Is(err, errInjected) {
				t.Fatalf("Wait of the failed flush = %v", err)
			}
			failedSeg := c.Start()[0].Segment
			if msg := err.Error(); !strings.Contains(msg, segName(failedSeg)) || !strings.Contains(msg, mode) {
				t.Errorf("error %q does not name the file and %s", msg, mode)
			}
			failed = append(failed, commitRecs(c, ps...)...)
			for range 5 {
				p := randPayload(rng, 100)
				c := mustWrite(t, l, p)
				mustWait(t, c)
				if c.Start()[0].Segment <= failedSeg {
					t.Fatalf("Write after the failure went to segment %d, failed one was %d", c.Start()[0].Segment, failedSeg)
				}
				acked = append(acked, commitRecs(c, p)...)
			}

			// Concurrent writers with a failure in the middle: each Commit
			// is durable or fails with the injected error.
			var mu sync.Mutex
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(6, uint64(g)))
					for i := range 60 {
						if g == 0 && i == 30 {
							failNext.Store(true)
						}
						p := randPayload(rng, rng.IntN(500))
						c, err := l.Write(p)
						if err != nil {
							t.Error(err)
							return
						}
						err = c.Wait(context.Background())
						mu.Lock()
						if err == nil {
							acked = append(acked, commitRecs(c, p)...)
						} else if errors.Is(err, errInjected) {
							failed = append(failed, commitRecs(c, p)...)
						} else {
							t.Errorf("unexpected error %v", err)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if failNext.Load() {
				t.Fatal("the second failure was never injected")
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got := recoverAll(t, dir, opts)
			gotAt := map[Pos]rec{}
			for i, r := range got {
				if i > 0 && !got[i-1].at.Less(r.at) {
					t.Fatalf("out of order: %v then %v", got[i-1], r)
				}
				gotAt[r.at] = r
			}
			for _, a := range acked {
				r, ok := gotAt[a.at]
				if !ok || !bytes.Equal(r.payload, a.payload) || r.end != a.end {
					t.Fatalf("acknowledged %v not recovered", a)
				}
				delete(gotAt, a.at)
			}
			for _, f := range failed {
				r, ok := gotAt[f.at]
				if !ok {
					continue
				}
				if mode == "write" {
					t.Fatalf("record %v of a failed pwrite recovered", f)
				}
				if !bytes.Equal(r.payload, f.payload) {
					t.Fatalf("failed record %v recovered with other content", f)
				}
				delete(gotAt, f.at)
			}
			if len(gotAt) != 0 {
				t.Fatalf("%d recovered records were never written", len(gotAt))
			}
			t.Logf("%d acknowledged, %d failed, %d recovered", len(acked), len(failed), len(got))
		})
	}
}

// When no fresh segment can be had after a failure, Writes fail until one can.
func TestFailedRoll(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 16 * BlockSize, NoSync: true}
	l, _ := openCollect(t, dir, opts)
	// Let the preparer finish the spare it makes after Open.
	for deadline := time.Now().Add(5 * time.Second); l.Stats().Segments < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no spare segment prepared")
		}
	}
	var failWrite, failPrepare atomic.Bool
	l.hooks.Store(&hooks{
		write: func(uint64, uint64, int64, []byte) error {
			if failWrite.CompareAndSwap(true, false) {
				return errInjected
			}
			return nil
		},
		prepare: func(uint64) error {
			if failPrepare.Load() {
				return errInjected
			}
			return nil
		},
		retryDelay: time.Hour,
	})
	failPrepare.Store(true)
	var acked []rec
	write := func() (*Commit, []byte, error) {
		p := []byte(time.Now().String())
		c, err := l.Write(p)
		return c, p, err
	}
	for round := range 2 {
		failWrite.Store(true)
		c, _, err := write()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(context.Background()); !errors.Is(err, errInjected) {
			t.Fatalf("round %d: failed flush: %v", round, err)
		}
		c, p, err := write()
		if round == 0 {
			// The spare prepared before the trouble is used.
			if err != nil {
				t.Fatalf("Write after the first failure: %v", err)
			}
			mustWait(t, c)
			acked = append(acked, commitRecs(c, p)...)
			continue
		}
		for range 3 {
			if err == nil {
				t.Fatal("Write succeeded with no segment to roll to")
			}
			if !errors.Is(err, errInjected) {
				t.Fatalf("Write: %v", err)
			}
			_, _, err = write()
		}
	}
	// The preparer would wait an hour before it tries again by itself; a
	// Write that finds it failing makes it try at once.
	failPrepare.Store(false)
	c, p, err := write()
	if err != nil {
		t.Fatalf("Write once segments can be made again: %v", err)
	}
	mustWait(t, c)
	acked = append(acked, commitRecs(c, p)...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if d := sameRecs(recoverAll(t, dir, opts), acked); d != "" {
		t.Fatal(d)
	}
}

// Files that are not segments are left alone, and a segment found on disk
// is never written again.
func TestOpenNeverAppends(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 8 * BlockSize, NoSync: true}
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("keep"), 0o640); err != nil {
		t.Fatal(err)
	}
	var want []rec
	for i := range 3 {
		l, got := openCollect(t, dir, opts)
		if d := sameRecs(got, want); d != "" {
			t.Fatalf("open %d: %s", i, d)
		}
		before := readFiles(t, dir)
		p := []byte{byte(i)}
		c := mustWrite(t, l, p)
		mustWait(t, c)
		for _, r := range got {
			if c.Start()[0].Segment <= r.at.Segment {
				t.Fatalf("new record in segment %d, found one in %d", c.Start()[0].Segment, r.at.Segment)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		after := readFiles(t, dir)
		for _, r := range got {
			name := segName(r.at.Segment)
			if !bytes.Equal(before[name], after[name]) {
				t.Fatalf("segment %s changed", name)
			}
		}
		want = append(want, commitRecs(c, p)...)
	}
	if b, err := os.ReadFile(other); err != nil || string(b) != "keep" {
		t.Fatalf("other file: %q, %v", b, err)
	}
}

// Writes queued behind a flush that fails lie after the failed region:
// they fail too, and are never written there.
func TestFailedFlushQueuedBehind(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 16 * BlockSize, NoSync: true}
	l, _ := openCollect(t, dir, opts)
	armed, inFlush, proceed := stallArmedWrite(l, errInjected)
	p0 := []byte("acknowledged")
	c0 := mustWrite(t, l, p0)
	mustWait(t, c0)
	armed.Store(true)
	c1 := mustWrite(t, l, []byte("fails in flight"))
	<-inFlush
	c2 := mustWrite(t, l, []byte("queued behind"))
	if c2.Start()[0].Segment != c1.Start()[0].Segment {
		t.Fatal("queued Write is not in the same segment")
	}
	close(proceed)
	if err := c1.Wait(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("failed flush: %v", err)
	}
	if err := c2.Wait(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("Write queued behind the failed flush: %v", err)
	}
	p3 := []byte("after")
	c3 := mustWrite(t, l, p3)
	mustWait(t, c3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := append(commitRecs(c0, p0), commitRecs(c3, p3)...)
	if d := sameRecs(recoverAll(t, dir, opts), want); d != "" {
		t.Fatal(d)
	}
}

// Release never recycles the segment being written, nor one that a flush
// in flight or a queued group still writes to, whatever position it is given.
func TestReleaseKeepsUnflushed(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4 * BlockSize, NoSync: true}
	l, _ := openCollect(t, dir, opts)
	armed, inFlush, proceed := stallArmedWrite(l, nil)
	rng := rand.New(rand.NewPCG(12, 12))
	p0 := randPayload(rng, 100)
	c0 := mustWrite(t, l, p0)
	mustWait(t, c0)
	armed.Store(true)
	p1 := randPayload(rng, 100)
	c1 := mustWrite(t, l, p1)
	<-inFlush
	p2 := randPayload(rng, 4*BlockSize-BlockSize-headerSize) // rolls to the next segment
	c2 := mustWrite(t, l, p2)
	if c2.Start()[0].Segment != c1.Start()[0].Segment+1 {
		t.Fatal("no roll")
	}
	l.Release(Pos{Segment: 1 << 62})
	close(proceed)
	mustWait(t, c1)
	mustWait(t, c2)
	// The segment of the flush in flight is still there, with its records.
	seg := c1.Start()[0].Segment
	data, err := os.ReadFile(filepath.Join(dir, segName(seg)))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := scanSegment(seg, data, nil); n != 2 {
		t.Fatalf("segment %d holds %d records after a Release during its flush, want 2", seg, n)
	}
	p3 := randPayload(rng, 10)
	c3 := mustWrite(t, l, p3)
	mustWait(t, c3)
	// Nothing in flight now: segment 1 goes, the current one stays.
	l.Release(Pos{Segment: 1 << 62})
	p4 := randPayload(rng, 10)
	c4 := mustWrite(t, l, p4)
	mustWait(t, c4)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(commitRecs(c2, p2), commitRecs(c3, p3), commitRecs(c4, p4))
	if d := sameRecs(recoverAll(t, dir, opts), want); d != "" {
		t.Fatal(d)
	}
}
