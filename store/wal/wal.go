package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure a Log.
type Options struct {
	// SegmentSize is the size of each preallocated segment file in bytes.
	// Default (0) 32 MiB. Must be a multiple of BlockSize and >= 4*BlockSize; tests use small ones.
	SegmentSize int64
	// NoSync skips fdatasync (tests and benchmarks of other layers only).
	// It also skips the fsyncs of new segment files and of the directory,
	// and new segments are sized with ftruncate instead of written zeros.
	NoSync bool
}

// BlockSize is the alignment of every flush: a flush starts at a multiple
// of BlockSize and is padded with zeros to the next one.
const BlockSize = 4096

const defaultSegmentSize = 32 << 20

// maxSegmentNumber bounds the numbers Open accepts, so that allocating
// new ones can never wrap around (no log writes 2^63 segments).
const maxSegmentNumber = 1 << 63

// Pos is where a record starts (or, for Commit.End, just after the last record of a Write).
type Pos struct {
	Segment uint64
	Offset  int64
}

// Less reports whether p comes before q in the log.
func (p Pos) Less(q Pos) bool {
	if p.Segment != q.Segment {
		return p.Segment < q.Segment
	}
	return p.Offset < q.Offset
}

var (
	// ErrTooLarge is returned by Write for a payload that cannot fit in one segment.
	ErrTooLarge = errors.New("wal: payload too large for a segment")
	// ErrClosed is returned by Write (and a second Close) once the log is closed.
	ErrClosed = errors.New("wal: log closed")

	errPending = errors.New("wal: commit not done yet")
)

// Log is a write-ahead log of records in preallocated segment files, with
// pipelined group commit. See the package documentation.
type Log struct {
	dir        string
	segSize    int64
	maxPayload int
	noSync     bool

	// mu guards the write side: the current segment and offset, the group
	// being filled, and what the flusher and Release need to agree on.
	mu       sync.Mutex
	work     sync.Cond // the flusher waits here for a non-empty group or Close
	closed   bool
	cur      *segment   // nil after a failed flush, until the next Write rolls
	off      int64      // where the next record goes in cur
	fill     *group     // records queued for the next flush
	flushing *group     // the group being written, nil when idle
	ready    []*segment // spares received from the preparer, not yet rolled to
	live     []segFile  // segment files that may hold needed records, ascending
	released Pos
	closeErr error // the outcome of the latest flush that ended after Close began

	// segMu guards segment-file bookkeeping shared by the preparer and
	// Release (Open uses it alone, before the goroutines start). It is
	// never held together with mu, so the renames and directory fsync of
	// Release never hold up a Write.
	segMu     sync.Mutex
	segClosed bool
	nextNum   uint64
	pool      []uint64 // recycled spare files, ascending numbers
	files     int      // segment files in dir

	spares atomic.Int32 // segment files numbered above the current one

	spareCh      chan spareMsg
	retryNow     chan struct{} // a Write asks the preparer to retry a failure now
	quit         chan struct{}
	flusherDone  chan struct{}
	preparerDone chan struct{}

	hooks atomic.Pointer[hooks]

	nFlushes, nSyncs, nBytes, nRecords atomic.Uint64
}

// hooks let tests see and break the I/O. Unset fields do nothing.
type hooks struct {
	// write is called before each pwrite of a flush with the flush's
	// sequence number; an error fails the write (the pwrite is skipped).
	write func(flush, seg uint64, off int64, b []byte) error
	// sync is called before each fdatasync (also with NoSync); an error
	// fails it.
	sync func(seg uint64) error
	// prepare is called before a spare segment is made; an error fails it.
	prepare func(num uint64) error
	// retryDelay replaces retryDelay when set.
	retryDelay time.Duration
}

func (l *Log) hookPrepare(num uint64) error {
	if h := l.hooks.Load(); h != nil && h.prepare != nil {
		return h.prepare(num)
	}
	return nil
}

// group is the records of one flush: one chunk per segment they go to
// (two when the group rolled into the next segment).
type group struct {
	chunks  []chunk // chunks[:n] are in use; the rest keep their buffers
	n       int
	records int
	res     *result
}

// chunk is a contiguous run of framed records for one segment, starting
// at a block-aligned offset.
type chunk struct {
	seg *segment
	off int64
	buf []byte
}

// result is the outcome of one flush, shared by all its Commits.
type result struct {
	done chan struct{}
	err  error
}

func newGroup() *group { return &group{res: &result{done: make(chan struct{})}} }

// chunkFor returns the chunk for records at off in s, starting one if the
// group's last chunk is for another segment (or there is none).
func (g *group) chunkFor(s *segment, off int64) *chunk {
	if g.n > 0 && g.chunks[g.n-1].seg == s {
		return &g.chunks[g.n-1]
	}
	if g.n == len(g.chunks) {
		g.chunks = append(g.chunks, chunk{})
	}
	c := &g.chunks[g.n]
	g.n++
	c.seg, c.off, c.buf = s, off, c.buf[:0]
	s.ref()
	return c
}

// reset drops the group's segment references and readies it for reuse
// with a fresh result. Buffers that grew very large are let go.
func (g *group) reset() {
	for i := range g.chunks[:g.n] {
		c := &g.chunks[i]
		c.seg.unref()
		c.seg = nil
		if cap(c.buf) > 8<<20 {
			c.buf = nil
		}
	}
	g.n, g.records = 0, 0
	g.res = &result{done: make(chan struct{})}
}

// Commit is the handle of one Write.
type Commit struct {
	res   *result
	start []Pos
	end   Pos
	one   [1]Pos // start's storage for the common single-record Write
}

var doneResult = func() *result {
	r := &result{done: make(chan struct{})}
	close(r.done)
	return r
}()

// Done is closed once the flush carrying the Write finished (fdatasync returned) or failed.
func (c *Commit) Done() <-chan struct{} { return c.res.done }

// Err is valid after Done: nil when durable. Before Done it returns a
// non-nil error saying so.
func (c *Commit) Err() error {
	select {
	case <-c.res.done:
		return c.res.err
	default:
		return errPending
	}
}

// Wait waits for Done (or ctx), returns Err.
func (c *Commit) Wait(ctx context.Context) error {
	select {
	case <-c.res.done:
		return c.res.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start is the start position of each record of the Write, in order. The
// slice belongs to the Commit: do not modify it.
func (c *Commit) Start() []Pos { return c.start }

// End is the position just after the Write's last record.
func (c *Commit) End() Pos { return c.end }

// Open opens or creates the log in dir (MkdirAll 0o750). It reads every segment in
// segment order and calls fn for each valid record, in order, with the record's start
// position, the position just after it, and its payload (valid only during the call).
// An error from fn aborts Open and is returned as it is. After Open, new records go to
// a NEW segment: a segment that was found on disk is never appended to again.
// Segments in which no valid record was found are recycled at once.
func Open(dir string, opts Options, fn func(at, end Pos, payload []byte) error) (*Log, error) {
	segSize := opts.SegmentSize
	if segSize == 0 {
		segSize = defaultSegmentSize
	}
	if segSize%BlockSize != 0 || segSize < 4*BlockSize {
		return nil, fmt.Errorf("wal: segment size %d is not a multiple of %d of at least %d", segSize, BlockSize, 4*BlockSize)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	l := &Log{
		dir:          dir,
		segSize:      segSize,
		maxPayload:   int(min(segSize-BlockSize-headerSize, lenMask)),
		noSync:       opts.NoSync,
		fill:         newGroup(),
		nextNum:      1,
		spareCh:      make(chan spareMsg),
		retryNow:     make(chan struct{}, 1),
		quit:         make(chan struct{}),
		flusherDone:  make(chan struct{}),
		preparerDone: make(chan struct{}),
	}
	l.work.L = &l.mu

	nums, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	if len(nums) > 0 {
		last := nums[len(nums)-1]
		if last >= maxSegmentNumber {
			return nil, fmt.Errorf("wal: segment number %#x found: numbers exhausted", last)
		}
		l.nextNum = last + 1
	}
	l.files = len(nums)
	var buf []byte
	recycled := false
	for _, num := range nums {
		path := l.segPath(num)
		data, err := readSegment(path, &buf)
		if err != nil {
			return nil, fmt.Errorf("wal: read %s: %w", path, err)
		}
		n, err := scanSegment(num, data, func(off, end int64, p []byte) error {
			if fn == nil {
				return nil
			}
			return fn(Pos{num, off}, Pos{num, end}, p)
		})
		if err != nil {
			return nil, err
		}
		if n > 0 {
			l.live = append(l.live, segFile{num, int64(len(data))})
			continue
		}
		// Nothing in an empty segment is needed, and renaming it (or
		// removing it) leaves every record found as it was.
		l.recycleLocked(segFile{num, int64(len(data))}, data)
		recycled = true
	}
	if recycled {
		if err := l.syncDir(); err != nil {
			return nil, fmt.Errorf("wal: sync %s: %w", dir, err)
		}
	}

	go l.preparer()
	l.mu.Lock()
	err = l.reserveLocked(1)
	if err == nil {
		l.rollLocked()
	}
	l.mu.Unlock()
	if err != nil {
		close(l.quit)
		<-l.preparerDone
		return nil, err
	}
	go l.flusher()
	return l, nil
}

// Write queues the payloads as consecutive records of the next flush and returns at once
// (it must not wait for I/O, except that it may block while no prepared segment is ready
// when it has to roll to the next one). Safe for concurrent use. The records of one Write are
// consecutive; Writes are ordered by the order their calls return, so a caller that calls
// Write under its own mutex gets records in its mutex order.
// Empty payload slice list: return a Commit that is already done. A zero-length payload is allowed.
func (l *Log) Write(payloads ...[]byte) (*Commit, error) {
	// The payload CRCs do not depend on the segment, so they are computed
	// before taking the lock; only 12 bytes are added under it.
	var crcArr [8]uint32
	crcs := crcArr[:0]
	if len(payloads) > len(crcArr) {
		crcs = make([]uint32, 0, len(payloads))
	}
	for _, p := range payloads {
		if len(p) > l.maxPayload {
			return nil, ErrTooLarge
		}
		crcs = append(crcs, crc32.Update(0, castagnoli, p))
	}
	c := &Commit{}
	if len(payloads) <= 1 {
		c.start = c.one[:len(payloads)]
	} else {
		c.start = make([]Pos, len(payloads))
	}

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if len(payloads) == 0 {
		c.res = doneResult
		if l.cur != nil {
			c.end = Pos{l.cur.num, l.off}
		}
		l.mu.Unlock()
		return c, nil
	}
	if err := l.reserveLocked(l.rollsNeeded(payloads)); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	g := l.fill
	wasEmpty := g.n == 0
	for i, p := range payloads {
		need := int64(headerSize + len(p))
		if l.cur == nil || l.off+need > l.segSize {
			l.rollLocked()
		}
		s := l.cur
		ch := g.chunkFor(s, l.off)
		lf := uint32(len(p))
		if len(ch.buf) == 0 {
			lf |= firstFlag
		}
		ch.buf = binary.LittleEndian.AppendUint32(ch.buf, recordCRC(crcs[i], lf, &s.numLE))
		ch.buf = binary.LittleEndian.AppendUint32(ch.buf, lf)
		ch.buf = append(ch.buf, p...)
		c.start[i] = Pos{s.num, l.off}
		l.off += need
	}
	g.records += len(payloads)
	c.end = Pos{l.cur.num, l.off}
	c.res = g.res
	if wasEmpty {
		l.work.Signal()
	}
	l.mu.Unlock()
	return c, nil
}

// rollsNeeded returns how many times appending payloads will roll to a
// new segment. mu is held.
func (l *Log) rollsNeeded(payloads [][]byte) int {
	rolls := 0
	off, have := l.off, l.cur != nil
	for _, p := range payloads {
		need := int64(headerSize + len(p))
		if !have || off+need > l.segSize {
			rolls++
			off, have = 0, true
		}
		off += need
	}
	return rolls
}

// reserveLocked makes sure l.ready holds at least n spare segments,
// waiting for the preparer while it holds mu (every other Write would have
// to wait for the roll anyway). If the preparer reports a failure, it is
// asked to try again at once (the disk may have room by now) and the
// outcome of that attempt is taken: only the preparer makes segments, so
// their numbers stay in the order they are rolled to. On error nothing has
// been queued, so the Write fails as a whole; spares received so far stay
// ready.
func (l *Log) reserveLocked(n int) error {
	var failed uint64 // attempt number of the failure already seen
	for len(l.ready) < n {
		m := <-l.spareCh
		if m.err != nil {
			if failed != 0 && m.attempt > failed {
				return m.err
			}
			failed = m.attempt
			select {
			case l.retryNow <- struct{}{}:
			default:
			}
			continue
		}
		l.ready = append(l.ready, m.seg)
	}
	return nil
}

// rollLocked makes the next ready spare the current segment. mu is held
// and reserveLocked made sure there is one.
func (l *Log) rollLocked() {
	if l.cur != nil {
		l.cur.unref()
	}
	s := l.ready[0]
	l.ready = append(l.ready[:0], l.ready[1:]...)
	s.refs.Store(1)
	l.cur, l.off = s, 0
	l.spares.Add(-1)
	l.live = append(l.live, segFile{s.num, l.segSize})
}

// flusher writes one group at a time while the next one fills.
func (l *Log) flusher() {
	defer close(l.flusherDone)
	spare := newGroup()
	var seq uint64
	for {
		l.mu.Lock()
		for l.fill.n == 0 && !l.closed {
			l.work.Wait()
		}
		if l.fill.n == 0 {
			l.mu.Unlock()
			return
		}
		g := l.fill
		l.fill = spare
		if g.chunks[g.n-1].seg == l.cur {
			// The next flush starts on a fresh block, so a torn write of
			// it can never damage a sector of this one.
			l.off = alignUp(l.off)
		}
		l.flushing = g
		l.mu.Unlock()

		seq++
		err := l.flush(g, seq)

		l.mu.Lock()
		l.flushing = nil
		if l.closed {
			l.closeErr = err
		}
		if err != nil {
			// The group filling now was placed after the failed region, so
			// it cannot be written either; later Writes go to a new segment.
			if f := l.fill; f.n > 0 {
				f.res.err = fmt.Errorf("wal: not written, an earlier flush failed: %w", err)
				close(f.res.done)
				f.reset()
			}
			if l.cur != nil {
				l.cur.unref()
				l.cur = nil
			}
		}
		l.mu.Unlock()

		l.nFlushes.Add(1)
		if err == nil {
			l.nRecords.Add(uint64(g.records))
		}
		g.res.err = err
		close(g.res.done)
		g.reset()
		spare = g
	}
}

// flush pads and writes the group's chunks in order, each with its own
// fdatasync: a chunk in the next segment is written only once the chunk
// before it is durable, so recovery's prefix property holds across a roll.
func (l *Log) flush(g *group, seq uint64) error {
	h := l.hooks.Load()
	for i := range g.chunks[:g.n] {
		c := &g.chunks[i]
		end := c.off + int64(len(c.buf))
		for pad := alignUp(end) - end; pad > 0; pad-- {
			c.buf = append(c.buf, 0)
		}
		var err error
		if h != nil && h.write != nil {
			err = h.write(seq, c.seg.num, c.off, c.buf)
		}
		if err == nil {
			_, err = c.seg.f.WriteAt(c.buf, c.off)
		}
		if err != nil {
			return fmt.Errorf("wal: write %s at offset %d: %w", c.seg.path, c.off, err)
		}
		l.nBytes.Add(uint64(len(c.buf)))
		if h != nil && h.sync != nil {
			err = h.sync(c.seg.num)
		}
		if err == nil && !l.noSync {
			err = fdatasync(c.seg.f)
			l.nSyncs.Add(1)
		}
		if err != nil {
			return fmt.Errorf("wal: fdatasync %s: %w", c.seg.path, err)
		}
	}
	return nil
}

func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	cerr := rc.Control(func(fd uintptr) {
		for {
			err = unix.Fdatasync(int(fd))
			if err != unix.EINTR {
				return
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}

// Release says every record before p is no longer needed. Segments wholly before
// p.Segment (and not the one being written) are recycled: renamed to a future segment number
// and kept as prepared spares (keep at most 2 spares), or removed beyond that.
// Release of an older position than a previous one is a no-op. It does the renames
// and the directory fsync itself; failures are ignored (the file stays, and is
// read again by the next Open). A segment still holding queued or in-flight
// records is kept whatever p says.
func (l *Log) Release(p Pos) {
	l.mu.Lock()
	if l.closed || p.Less(l.released) {
		l.mu.Unlock()
		return
	}
	l.released = p
	limit := p.Segment
	if l.cur != nil {
		limit = min(limit, l.cur.num)
	}
	for _, g := range []*group{l.fill, l.flushing} {
		if g != nil && g.n > 0 {
			limit = min(limit, g.chunks[0].seg.num)
		}
	}
	i := 0
	for i < len(l.live) && l.live[i].num < limit {
		i++
	}
	victims := slices.Clone(l.live[:i])
	l.live = append(l.live[:0], l.live[i:]...)
	l.mu.Unlock()
	if len(victims) == 0 {
		return
	}

	l.segMu.Lock()
	defer l.segMu.Unlock()
	if l.segClosed {
		return
	}
	for _, v := range victims {
		l.recycleLocked(v, nil)
	}
	_ = l.syncDir()
}

// Close flushes what is queued, waits for it, stops the goroutines and closes the files.
// Writes after Close return ErrClosed. It returns the error of the last flush it waited
// for, if that failed (the Commits of that flush carry the error too).
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.work.Broadcast()
	l.mu.Unlock()
	<-l.flusherDone
	close(l.quit)
	<-l.preparerDone

	l.segMu.Lock() // waits for a Release still renaming
	l.segClosed = true
	l.segMu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		l.cur.unref()
		l.cur = nil
	}
	for _, s := range l.ready {
		_ = s.f.Close()
	}
	l.ready = nil
	return l.closeErr
}

// Stats counts what the log did, for tests and benchmarks.
type Stats struct {
	Flushes uint64 // flushes done (successful or not)
	Syncs   uint64 // fdatasync calls
	Bytes   uint64 // bytes written by flushes, padding included
	Records uint64 // records made durable
	// Segments is the number of segment files the log has in its
	// directory: those with records still needed, the current one and
	// the spares.
	Segments int
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	l.segMu.Lock()
	files := l.files
	l.segMu.Unlock()
	return Stats{
		Flushes:  l.nFlushes.Load(),
		Syncs:    l.nSyncs.Load(),
		Bytes:    l.nBytes.Load(),
		Records:  l.nRecords.Load(),
		Segments: files,
	}
}
