package wal

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// Crash simulation. A scenario runs a real Log with a write hook that
// records every pwrite of every flush, and the bytes the file held there
// before. The concatenation of those pwrites, in order, is "the written
// content"; a crash state is the final files with some of those bytes put
// back to what they were before (zeros in a fresh segment, stale bytes in
// a recycled one).

type pwrite struct {
	flush uint64
	seg   uint64
	off   int64
	data  []byte // what the flush wrote, padding included
	prior []byte // what the file held there before
	gs    int64  // where data starts in the written content
}

type wrec struct {
	rec
	w      int   // the pwrite that carried it
	gs, ge int64 // its bytes in the written content
}

type scenario struct {
	t      *testing.T
	dir    string
	opts   Options
	mu     sync.Mutex
	writes []pwrite
	total  int64
	final  map[string][]byte
	recs   []wrec // every record written, in log order
	crash  string // directory the crash states are built in
}

func newScenario(t *testing.T, opts Options) *scenario {
	return &scenario{t: t, dir: t.TempDir(), crash: filepath.Join(t.TempDir(), "crash"), opts: opts}
}

func (sc *scenario) open() *Log {
	l, got := openCollect(sc.t, sc.dir, sc.opts)
	if len(got) != 0 {
		sc.t.Fatalf("scenario log not empty")
	}
	l.hooks.Store(&hooks{write: sc.hook})
	return l
}

func (sc *scenario) hook(flush, seg uint64, off int64, b []byte) error {
	prior := make([]byte, len(b))
	f, err := os.Open(filepath.Join(sc.dir, segName(seg)))
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.ReadAt(prior, off); err != nil && err != io.EOF {
		return err
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.writes = append(sc.writes, pwrite{flush, seg, off, bytes.Clone(b), prior, sc.total})
	sc.total += int64(len(b))
	return nil
}

// finish closes the log, snapshots the files and places every record of
// commits in the written content.
func (sc *scenario) finish(l *Log, written []rec) {
	t := sc.t
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	sc.final = readFiles(t, sc.dir)
	slices.SortFunc(written, func(a, b rec) int {
		if a.at.Less(b.at) {
			return -1
		}
		return 1
	})
	for _, r := range written {
		wi := slices.IndexFunc(sc.writes, func(w pwrite) bool {
			return w.seg == r.at.Segment && w.off <= r.at.Offset && r.end.Offset <= w.off+int64(len(w.data))
		})
		if wi < 0 {
			t.Fatalf("record %v is in no pwrite", r)
		}
		w := sc.writes[wi]
		gs := w.gs + r.at.Offset - w.off
		sc.recs = append(sc.recs, wrec{r, wi, gs, gs + r.end.Offset - r.at.Offset})
	}
	for i := 1; i < len(sc.recs); i++ {
		if sc.recs[i].gs < sc.recs[i-1].ge {
			t.Fatalf("records overlap in the written content")
		}
	}
}

// state returns the final files with, for each pwrite wi, the byte ranges
// revert(wi) put back to their prior content.
func (sc *scenario) state(revert func(wi int) [][2]int) map[string][]byte {
	files := make(map[string][]byte, len(sc.final))
	for name, b := range sc.final {
		files[name] = bytes.Clone(b)
	}
	for wi, w := range sc.writes {
		for _, r := range revert(wi) {
			copy(files[segName(w.seg)][w.off+int64(r[0]):], w.prior[r[0]:r[1]])
		}
	}
	return files
}

// cutAt is the state a crash leaves when the written content reached the
// disk up to byte k and nothing after it.
func (sc *scenario) cutAt(k int64) map[string][]byte {
	return sc.state(func(wi int) [][2]int {
		w := sc.writes[wi]
		switch {
		case w.gs+int64(len(w.data)) <= k:
			return nil
		case w.gs >= k:
			return [][2]int{{0, len(w.data)}}
		default:
			return [][2]int{{int(k - w.gs), len(w.data)}}
		}
	})
}

// lastNew is just after the last byte of r whose written value differs
// from the prior one: a cut at or after it leaves r identical to what was
// written, so recovering it is right even if r's last bytes were "not
// written" (they already held those values).
func (sc *scenario) lastNew(r wrec) int64 {
	w := sc.writes[r.w]
	for i := r.ge - 1; i >= r.gs; i-- {
		if w.data[i-w.gs] != w.prior[i-w.gs] {
			return i + 1
		}
	}
	return r.gs
}

// intact reports whether the bytes of r in files are the ones written.
func (sc *scenario) intact(files map[string][]byte, r wrec) bool {
	w := sc.writes[r.w]
	file := files[segName(r.at.Segment)]
	from := r.at.Offset - w.off
	return bytes.Equal(file[r.at.Offset:r.end.Offset], w.data[from:from+r.end.Offset-r.at.Offset])
}

// check opens the crash state files (expecting the leading intact records
// of expect, and nothing else), twice, and with writeMore also writes to
// it and reopens. It returns how many records were recovered.
func (sc *scenario) check(what string, files map[string][]byte, expect []wrec, writeMore bool) int {
	t := sc.t
	t.Helper()
	j := 0
	for j < len(expect) && sc.intact(files, expect[j]) {
		j++
	}
	want := make([]rec, j)
	for i := range want {
		want[i] = expect[i].rec
	}
	writeFiles(t, sc.crash, files)
	opts := Options{SegmentSize: sc.opts.SegmentSize, NoSync: true}
	l, got := openCollect(t, sc.crash, opts)
	if d := sameRecs(got, want); d != "" {
		t.Fatalf("%s: %s", what, d)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Open changed none of the files it found records in (it may have
	// recycled those it found none in).
	after := readFiles(t, sc.crash)
	for _, r := range got {
		name := segName(r.at.Segment)
		if !bytes.Equal(after[name], files[name]) {
			t.Fatalf("%s: Open modified %s", what, name)
		}
	}
	l, again := openCollect(t, sc.crash, opts)
	if d := sameRecs(again, want); d != "" {
		t.Fatalf("%s: second Open: %s", what, d)
	}
	if writeMore {
		more := [][]byte{[]byte("after the crash"), {}, bytes.Repeat([]byte{7}, 5000)}
		c := mustWrite(t, l, more...)
		mustWait(t, c)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		want = append(want, commitRecs(c, more...)...)
		if d := sameRecs(recoverAll(t, sc.crash, opts), want); d != "" {
			t.Fatalf("%s: after writing more: %s", what, d)
		}
	} else if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return j
}

// writeWait writes each batch as one Write, all without waiting, then
// waits for them all.
func writeWait(t *testing.T, l *Log, batches ...[][]byte) []rec {
	var out []rec
	var cs []*Commit
	for _, b := range batches {
		c := mustWrite(t, l, b...)
		cs = append(cs, c)
		out = append(out, commitRecs(c, b...)...)
	}
	for _, c := range cs {
		mustWait(t, c)
	}
	return out
}

func singles(ps ...[]byte) [][][]byte {
	out := make([][][]byte, len(ps))
	for i, p := range ps {
		out[i] = [][]byte{p}
	}
	return out
}

// freshScenario writes a few flushes into fresh segments of 8 blocks, the
// last but one rolling into the second segment in the middle of a Write.
func freshScenario(t *testing.T, payload func(rng *rand.Rand, n int) []byte) *scenario {
	sc := newScenario(t, Options{SegmentSize: 8 * BlockSize, NoSync: true})
	l := sc.open()
	rng := rand.New(rand.NewPCG(7, 7))
	var written []rec
	small := func() []byte { return randPayload(rng, rng.IntN(40)) }
	// Flush: single records, one of them empty.
	written = append(written, writeWait(t, l, singles(small(), small(), []byte{}, small(), small(), small())...)...)
	// Flush: one Write of five records and more single ones.
	written = append(written, writeWait(t, l, [][]byte{small(), []byte{}, small(), small(), small()}, [][]byte{small()}, [][]byte{small()})...)
	// Flush: one Write of a dozen records, over two blocks.
	var dozen [][]byte
	for range 12 {
		dozen = append(dozen, payload(rng, 200+rng.IntN(500)))
	}
	written = append(written, writeWait(t, l, dozen)...)
	// Flush: records spanning blocks.
	written = append(written, writeWait(t, l, singles(payload(rng, 3000), payload(rng, 2500), small())...)...)
	// Flush: one Write that fills the first segment and rolls into the second.
	end := written[len(written)-1].end
	if end.Segment != written[0].at.Segment {
		t.Fatal("rolled too early")
	}
	room := 8*BlockSize - alignUp(end.Offset)
	written = append(written, writeWait(t, l, [][]byte{payload(rng, int(room)-headerSize-50), small(), payload(rng, 100), small()})...)
	if last := written[len(written)-1].at.Segment; last != written[0].at.Segment+1 {
		t.Fatalf("the rolling Write ends in segment %d", last)
	}
	// Flush: more in the second segment.
	written = append(written, writeWait(t, l, singles(small(), []byte{}, small(), payload(rng, 300))...)...)
	sc.finish(l, written)
	return sc
}

// Crash after every byte of the written content.
func TestCrashEveryByte(t *testing.T) {
	sc := freshScenario(t, sparsePayload)
	states := 0
	for k := int64(0); k <= sc.total; k++ {
		if k > 0 {
			// The state for k differs from the one for k-1 only in byte k-1.
			w := sc.writes[slices.IndexFunc(sc.writes, func(w pwrite) bool { return k-1 < w.gs+int64(len(w.data)) })]
			if w.data[k-1-w.gs] == w.prior[k-1-w.gs] {
				continue
			}
		}
		states++
		files := sc.cutAt(k)
		j := sc.check(fmt.Sprintf("crash at byte %d", k), files, sc.recs, states%20 == 1 || k == sc.total)
		// Independently of the intact-prefix model: every record of a
		// flush finished before the cut one is there, and nothing that was
		// not fully written.
		cut := uint64(1 << 63)
		if k < sc.total {
			cut = sc.writes[slices.IndexFunc(sc.writes, func(w pwrite) bool { return k < w.gs+int64(len(w.data)) })].flush
		}
		for i, r := range sc.recs {
			if sc.writes[r.w].flush < cut && i >= j {
				t.Fatalf("crash at %d: record %d of completed flush %d lost", k, i, sc.writes[r.w].flush)
			}
			if i < j && sc.lastNew(r) > k {
				t.Fatalf("crash at %d: record %d recovered but not fully written", k, i)
			}
		}
		if k == sc.total && j != len(sc.recs) {
			t.Fatalf("with everything written, %d of %d records recovered", j, len(sc.recs))
		}
	}
	t.Logf("%d written bytes in %d pwrites, %d flushes, %d records; %d distinct crash states",
		sc.total, len(sc.writes), sc.writes[len(sc.writes)-1].flush, len(sc.recs), states)
}

// tornStates checks, for every pwrite of two blocks or more, states where
// the writes before it reached the disk, a subset of its blocks did, and
// nothing after it did.
func (sc *scenario) tornStates(rng *rand.Rand, expect []wrec, from int) int {
	t := sc.t
	n := 0
	for wi := from; wi < len(sc.writes); wi++ {
		w := sc.writes[wi]
		blocks := len(w.data) / BlockSize
		if blocks < 2 {
			continue
		}
		var masks []uint64
		if blocks <= 6 {
			for m := uint64(1); m < 1<<blocks-1; m++ {
				masks = append(masks, m)
			}
		} else {
			for range 64 {
				masks = append(masks, rng.Uint64()&(1<<blocks-1))
			}
		}
		for _, m := range masks {
			files := sc.state(func(i int) [][2]int {
				switch {
				case i < wi:
					return nil
				case i > wi:
					return [][2]int{{0, len(sc.writes[i].data)}}
				}
				var r [][2]int
				for b := range blocks {
					if m&(1<<b) == 0 {
						r = append(r, [2]int{b * BlockSize, (b + 1) * BlockSize})
					}
				}
				return r
			})
			j := sc.check(fmt.Sprintf("pwrite %d, blocks kept %b", wi, m), files, expect, n%16 == 0)
			n++
			// No recovered record holds a written byte at or past the
			// first byte lost in a missing block.
			for b := range blocks {
				lo, hi := b*BlockSize, (b+1)*BlockSize
				if m&(1<<b) != 0 {
					continue
				}
				d := -1
				for i := lo; i < hi; i++ {
					if w.data[i] != w.prior[i] {
						d = i
						break
					}
				}
				if d < 0 {
					continue // the block held those bytes already
				}
				for i := range j {
					if r := expect[i]; sc.lastNew(r) > w.gs+int64(d) {
						t.Fatalf("pwrite %d, blocks kept %b: record %v recovered past lost byte %d", wi, m, r.rec, d)
					}
				}
				break
			}
		}
	}
	return n
}

// Torn flushes: any subset of a flush's blocks reached the disk.
func TestTornFlush(t *testing.T) {
	sc := newScenario(t, Options{SegmentSize: 16 * BlockSize, NoSync: true})
	l := sc.open()
	rng := rand.New(rand.NewPCG(10, 10))
	sizes := func(n, lo, hi int) [][]byte {
		var out [][]byte
		for range n {
			out = append(out, randPayload(rng, lo+rng.IntN(hi-lo+1)))
		}
		return out
	}
	var written []rec
	written = append(written, writeWait(t, l, singles(sizes(5, 0, 40)...)...)...)
	written = append(written, writeWait(t, l, sizes(40, 0, 600))...)                      // about 4 blocks
	written = append(written, writeWait(t, l, append(sizes(2, 5000, 5000), []byte{}))...) // 3 blocks
	// A Write of many records that fills the first segment and rolls.
	end := written[len(written)-1].end
	room := int(16*BlockSize - alignUp(end.Offset))
	roll := sizes(3, 700, 700)
	roll = append([][]byte{randPayload(rng, room-3*(700+headerSize)-headerSize-50)}, roll...)
	roll = append(roll, sizes(1, 10, 10)[0], randPayload(rng, 3000), randPayload(rng, 3000))
	written = append(written, writeWait(t, l, roll)...)
	if a, b := written[0].at.Segment, written[len(written)-1].at.Segment; b != a+1 {
		t.Fatalf("records in segments %d..%d", a, b)
	}
	written = append(written, writeWait(t, l, sizes(10, 300, 900))...)
	sc.finish(l, written)
	n := sc.tornStates(rand.New(rand.NewPCG(8, 8)), sc.recs, 0)
	if n < 10 {
		t.Fatalf("only %d torn states", n)
	}
	t.Logf("%d torn states", n)
}

// Stale data: segments recycled by Release hold old records that are valid
// under their old numbers; a crash with the new content partly written must
// not bring any of them back.
func TestCrashRecycled(t *testing.T) {
	sc := newScenario(t, Options{SegmentSize: 8 * BlockSize, NoSync: true})
	l := sc.open()
	rng := rand.New(rand.NewPCG(9, 9))
	var written []rec
	var rel Pos
	for rel.Segment < 8 {
		p := randPayload(rng, 200+rng.IntN(1300))
		c := mustWrite(t, l, p)
		mustWait(t, c)
		written = append(written, commitRecs(c, p)...)
		rel = Pos{Segment: c.Start()[0].Segment - 1}
		l.Release(rel)
	}
	sc.mu.Lock()
	phase2 := len(sc.writes)
	sc.mu.Unlock()
	firstSeg := written[len(written)-1].at.Segment
	for written[len(written)-1].at.Segment < firstSeg+3 {
		var batch [][]byte
		for range 3 + rng.IntN(12) {
			batch = append(batch, randPayload(rng, rng.IntN(1500)))
		}
		written = append(written, writeWait(t, l, batch)...)
	}
	sc.finish(l, written)

	// Only what Release did not let go of is expected.
	var expect []wrec
	for _, r := range sc.recs {
		if r.at.Segment >= rel.Segment {
			expect = append(expect, r)
		}
	}
	// The test means something only if phase 2 wrote into recycled files
	// that still hold records valid under their old number.
	before := sc.state(func(wi int) [][2]int {
		if wi < phase2 {
			return nil
		}
		return [][2]int{{0, len(sc.writes[wi].data)}}
	})
	staleSegs := 0
	for seg := firstSeg + 1; seg <= written[len(written)-1].at.Segment; seg++ {
		for old := uint64(1); old < seg; old++ {
			if n, _ := scanSegment(old, before[segName(seg)], nil); n > 0 {
				staleSegs++
				break
			}
		}
	}
	if staleSegs == 0 {
		t.Fatal("no segment written in phase 2 held stale records")
	}

	p2 := sc.writes[phase2].gs
	cuts := map[int64]bool{p2: true, sc.total: true}
	for _, r := range sc.recs {
		for _, d := range []int64{-9, -8, -4, -1, 0, 1, 4, 7, 8, 9} {
			cuts[r.gs+d], cuts[r.ge+d] = true, true
		}
	}
	for range 300 {
		cuts[p2+rng.Int64N(sc.total-p2)] = true
	}
	n := 0
	for k := range cuts {
		if k < p2 || k > sc.total {
			continue
		}
		j := sc.check(fmt.Sprintf("crash at byte %d", k), sc.cutAt(k), expect, n%25 == 0)
		for i := range j {
			if sc.lastNew(expect[i]) > k {
				t.Fatalf("crash at %d: record %v recovered but not fully written", k, expect[i].rec)
			}
		}
		n++
	}
	torn := sc.tornStates(rng, expect, phase2)
	t.Logf("%d segments with stale records, %d crash states, %d torn states", staleSegs, n, torn)
}

// A lost block inside a flush that reads as zeros right after a record
// that is still intact (its own bytes there were zeros) must not pass for
// padding: recovery must not resume at the record after the hole.
func TestTornZeroTail(t *testing.T) {
	sc := newScenario(t, Options{SegmentSize: 4 * BlockSize, NoSync: true})
	l := sc.open()
	rng := rand.New(rand.NewPCG(11, 11))
	// q runs from offset 0 into block 1, where all its bytes are zero; the
	// empty record r ends exactly at the end of block 1; r2 starts block 2.
	q := make([]byte, 2*BlockSize-2*headerSize)
	copy(q, randPayload(rng, 4000))
	r2 := randPayload(rng, 100)
	written := writeWait(t, l, [][]byte{q, {}, r2})
	if written[2].at.Offset != 2*BlockSize {
		t.Fatalf("r2 at %v", written[2].at)
	}
	sc.finish(l, written)
	files := sc.state(func(int) [][2]int { return [][2]int{{BlockSize, 2 * BlockSize}} })
	if j := sc.check("block 1 lost", files, sc.recs, true); j != 1 {
		t.Fatalf("recovered %d records, want only q", j)
	}
	if n := sc.tornStates(rng, sc.recs, 0); n == 0 {
		t.Fatal("no torn states")
	}
}
