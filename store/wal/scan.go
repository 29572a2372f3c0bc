package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// Scan reads the log in dir as Open would, calling fn for each valid
// record, without creating, renaming or writing anything: for readers of a
// log that another process may own, or of a copy. A missing dir is an
// empty log.
func Scan(dir string, fn func(at, end Pos, payload []byte) error) error {
	nums, err := listSegments(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("wal: %w", err)
	}
	var buf []byte
	for _, num := range nums {
		path := filepath.Join(dir, segName(num))
		data, err := readSegment(path, &buf)
		if err != nil {
			return fmt.Errorf("wal: read %s: %w", path, err)
		}
		if _, err := scanSegment(num, data, func(off, end int64, p []byte) error {
			return fn(Pos{num, off}, Pos{num, end}, p)
		}); err != nil {
			return err
		}
	}
	return nil
}

// Head returns where the next record will start: in the segment being
// written, after what is queued. After a failed flush, until the next
// Write rolls to a new segment, there is none: it returns the zero Pos.
func (l *Log) Head() Pos {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return Pos{}
	}
	return Pos{Segment: l.cur.num, Offset: l.off}
}
