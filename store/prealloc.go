package store

import (
	"fmt"
	"os"
)

// Preallocation. bbolt grows its file with ftruncate, which leaves a sparse
// region: the first write to each new block then makes fdatasync commit the
// filesystem's block allocation too, and on ext4 that costs more than the
// data itself (measured here: 12 pages + fdatasync take ~580 µs into a
// sparse region, ~350 µs into written blocks). So the commit loop keeps a
// margin of really written (zeroed) space past bbolt's high-water mark.
//
// It is safe because only the commit loop writes to the file (every write
// transaction runs there), and it only writes between transactions, at or
// beyond the high-water mark: pages there belong to no tree, no freelist
// and no meta page, and bbolt's grow leaves a file that is already large
// enough alone.
const (
	preallocMargin = 8 << 20  // zero more when fewer than this many bytes are left
	preallocChunk  = 16 << 20 // how much to zero at a time
)

type preallocator struct {
	f        *os.File
	zeroedTo int64 // bytes [0, zeroedTo) are known to be written blocks
	buf      []byte
	disabled bool
}

func newPreallocator(path string) *preallocator {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return &preallocator{disabled: true}
	}
	return &preallocator{f: f, buf: make([]byte, 1<<20)}
}

// ensure zeroes the file beyond hwm (the database's used size in bytes)
// when the written margin is smaller than preallocMargin.
func (p *preallocator) ensure(hwm int64) error {
	if p.disabled || hwm+preallocMargin <= p.zeroedTo {
		return nil
	}
	from := max(hwm, p.zeroedTo)
	to := hwm + preallocChunk
	for off := from; off < to; off += int64(len(p.buf)) {
		n := min(int64(len(p.buf)), to-off)
		if _, err := p.f.WriteAt(p.buf[:n], off); err != nil {
			p.disabled = true
			return fmt.Errorf("preallocate: %w", err)
		}
	}
	if err := p.f.Sync(); err != nil {
		p.disabled = true
		return fmt.Errorf("preallocate: %w", err)
	}
	p.zeroedTo = to
	return nil
}

func (p *preallocator) close() {
	if p.f != nil {
		_ = p.f.Close()
	}
}
