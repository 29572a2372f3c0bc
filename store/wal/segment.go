package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

const (
	maxSpares  = 2           // spare segment files (numbered above the current one) kept at most
	zeroChunk  = 1 << 20     // preallocation writes zeros this many bytes at a time
	retryDelay = time.Second // how long a failed preparation is reported before it is retried
)

// segment is an open segment file that the log writes to.
type segment struct {
	num   uint64
	numLE [8]byte
	path  string
	f     *os.File
	// refs: 1 while it is the current segment, plus 1 for each queued or
	// in-flight chunk of records aimed at it. The file is closed at zero.
	refs atomic.Int32
}

func (s *segment) ref() { s.refs.Add(1) }

func (s *segment) unref() {
	if s.refs.Add(-1) == 0 {
		_ = s.f.Close()
	}
}

// segFile is a segment file on disk that may hold records still needed.
type segFile struct {
	num  uint64
	size int64
}

func segName(num uint64) string { return fmt.Sprintf("%016x.log", num) }

func (l *Log) segPath(num uint64) string { return filepath.Join(l.dir, segName(num)) }

// parseSegName returns the number of a segment file name, or false for
// any other name (only the exact form segName writes is accepted, so one
// number has one name).
func parseSegName(name string) (uint64, bool) {
	if len(name) != 20 || name[16:] != ".log" {
		return 0, false
	}
	n, err := strconv.ParseUint(name[:16], 16, 64)
	if err != nil || segName(n) != name {
		return 0, false
	}
	return n, true
}

// listSegments returns the numbers of the segment files in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var nums []uint64
	for _, e := range ents {
		if n, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// readSegment reads the whole file at path into *buf (grown as needed)
// and returns its content. A file that shrinks while read gives what
// could be read.
func readSegment(path string, buf *[]byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := int(st.Size())
	if cap(*buf) < size {
		*buf = make([]byte, size)
	}
	data := (*buf)[:size]
	n, err := io.ReadFull(f, data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return data[:n], nil
}

func (l *Log) syncDir() error {
	if l.noSync {
		return nil
	}
	d, err := os.Open(l.dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// allocNumLocked returns the next unused segment number. segMu is held.
func (l *Log) allocNumLocked() uint64 {
	n := l.nextNum
	for !usableNumber(n) {
		n++
	}
	l.nextNum = n + 1
	return n
}

// recycleLocked disposes of a segment file whose records are no longer
// needed: renamed to a future number as a spare while there are fewer
// than maxSpares (and it has the right size), removed otherwise. The
// rename gives every stale record in it the wrong segment number for its
// CRC, so none can validate again: a file only ever holds records of
// numbers up to its own, and new numbers are above every file's. For a
// file of unknown origin (found empty by Open) data is its content, and a
// number under which any block of it would start a valid record is
// skipped, so that no later recovery can find one.
// segMu is held; the caller syncs the directory before it releases segMu,
// so the preparer never hands out a spare whose name is not durable.
func (l *Log) recycleLocked(v segFile, data []byte) {
	if l.spares.Load() < maxSpares && v.size == l.segSize {
		n := l.allocNumLocked()
		for data != nil && validAtSomeBlock(n, data) {
			n = l.allocNumLocked()
		}
		if err := os.Rename(l.segPath(v.num), l.segPath(n)); err == nil {
			l.pool = append(l.pool, n)
			l.spares.Add(1)
			return
		}
	}
	if err := os.Remove(l.segPath(v.num)); err == nil || errors.Is(err, os.ErrNotExist) {
		l.files--
	}
}

// validAtSomeBlock reports whether a valid record of segment num starts at
// some block boundary of data.
func validAtSomeBlock(num uint64, data []byte) bool {
	var le [8]byte
	binary.LittleEndian.PutUint64(le[:], num)
	for off := int64(0); off < int64(len(data)); off += BlockSize {
		if _, _, ok := recordAt(data, off, &le); ok {
			return true
		}
	}
	return false
}

// spareMsg is what the preparer hands to a rolling Write: a ready segment
// or the reason it could not make one, in attempt number attempt.
type spareMsg struct {
	seg     *segment
	err     error
	attempt uint64
}

// preparer keeps one spare segment ready ahead of need. It hands it over
// on l.spareCh; after a failure it offers the error instead, to every
// Write that asks, until retryDelay has passed or a Write asks for a new
// attempt on l.retryNow, and then tries again. It is the only maker of
// segments, so they are handed over in the order of their numbers.
func (l *Log) preparer() {
	defer close(l.preparerDone)
	var attempt uint64
	for {
		select {
		case <-l.quit:
			return
		default:
		}
		attempt++
		s, err := l.prepare()
		if err != nil {
			delay := retryDelay
			if h := l.hooks.Load(); h != nil && h.retryDelay > 0 {
				delay = h.retryDelay
			}
			t := time.NewTimer(delay)
		offer:
			for {
				select {
				case l.spareCh <- spareMsg{err: err, attempt: attempt}:
				case <-t.C:
					break offer
				case <-l.retryNow:
					t.Stop()
					break offer
				case <-l.quit:
					t.Stop()
					return
				}
			}
			continue
		}
		select {
		case l.spareCh <- spareMsg{seg: s, attempt: attempt}:
		case <-l.quit:
			_ = s.f.Close()
			return
		}
	}
}

// prepare returns an open segment to write next: the oldest recycled
// spare if there is one, else a new file preallocated by writing zeros.
func (l *Log) prepare() (*segment, error) {
	l.segMu.Lock()
	var num uint64
	recycled := len(l.pool) > 0
	if recycled {
		num = l.pool[0]
		l.pool = l.pool[1:]
	} else {
		num = l.allocNumLocked()
		l.spares.Add(1)
	}
	l.segMu.Unlock()

	path := l.segPath(num)
	var f *os.File
	err := l.hookPrepare(num)
	if err == nil && recycled {
		f, err = os.OpenFile(path, os.O_RDWR, 0)
	} else if err == nil {
		f, err = l.createZeroed(path)
	}
	if err != nil {
		l.segMu.Lock()
		if recycled {
			// Its number is spent: drop the file rather than leak it.
			if rerr := os.Remove(path); rerr == nil {
				l.files--
			}
		}
		l.spares.Add(-1)
		l.segMu.Unlock()
		return nil, fmt.Errorf("wal: prepare segment %s: %w", path, err)
	}
	if !recycled {
		l.segMu.Lock()
		l.files++
		l.segMu.Unlock()
	}
	s := &segment{num: num, path: path, f: f}
	binary.LittleEndian.PutUint64(s.numLE[:], num)
	return s, nil
}

// createZeroed creates path and writes SegmentSize zero bytes into it, then
// fsyncs the file and the directory. Writing (rather than fallocate or
// ftruncate) matters on ext4: the first write into an unwritten or sparse
// block makes the next fdatasync journal the allocation too.
func (l *Log) createZeroed(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	if l.noSync {
		// Without fdatasync the allocation costs nothing at flush time:
		// a sparse file will do (tests open many stores).
		err = f.Truncate(l.segSize)
	} else {
		zeros := make([]byte, min(zeroChunk, l.segSize))
		for off := int64(0); off < l.segSize && err == nil; off += int64(len(zeros)) {
			_, err = f.WriteAt(zeros[:min(int64(len(zeros)), l.segSize-off)], off)
		}
	}
	if err == nil && !l.noSync {
		err = f.Sync()
	}
	if err == nil {
		err = l.syncDir()
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return f, nil
}
