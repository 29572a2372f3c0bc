package wal

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// checkCRC validates a record the way doc.go describes it, independently
// of recordAt.
func checkCRC(num uint64, data []byte, off, end int64) bool {
	var b []byte
	b = append(b, data[off+headerSize:end]...)
	b = append(b, data[off+4:off+8]...)
	b = binary.LittleEndian.AppendUint64(b, num)
	return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) == binary.LittleEndian.Uint32(data[off:])
}

// fuzzSeeds returns segment files written by a real log: records of many
// sizes, empty ones, several flushes with padding, a roll.
func fuzzSeeds(f *testing.F) map[uint64][]byte {
	dir := f.TempDir()
	l, _ := openCollect(f, dir, Options{SegmentSize: 4 * BlockSize, NoSync: true})
	rng := rand.New(rand.NewPCG(13, 13))
	for _, batch := range [][]int{{0}, {1, 0, 30}, {5000}, {100, 200, 0}, {4000, 4000}, {7}} {
		var ps [][]byte
		for _, n := range batch {
			ps = append(ps, randPayload(rng, n))
		}
		mustWait(f, mustWrite(f, l, ps...))
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	out := map[uint64][]byte{}
	records := 0
	for name, b := range readFiles(f, dir) {
		if n, ok := parseSegName(name); ok {
			out[n] = b
			c, _ := scanSegment(n, b, nil)
			records += c
		}
	}
	if records != 11 {
		f.Fatalf("seed segments hold %d records, want 11", records)
	}
	return out
}

// FuzzRecover feeds arbitrary bytes to recovery as the content of segment
// num: it must not panic, must return only records whose CRC validates and
// that follow the format's rules, and the same records every time, through
// scanSegment and through Open.
func FuzzRecover(f *testing.F) {
	for num, b := range fuzzSeeds(f) {
		// Without the zero tail: small inputs fuzz and minimize faster.
		b = bytes.TrimRight(b, "\x00")
		f.Add(b, num)
		f.Add(b[:len(b)/2+3], num)
		f.Add(b, num+1) // the same bytes under another number: nothing valid
	}
	f.Add([]byte{}, uint64(1))
	f.Add(make([]byte, BlockSize+5), uint64(1))
	f.Add([]byte{1, 2, 3}, uint64(0))
	f.Add(make([]byte, 20), uint64(math.MaxUint64))

	f.Fuzz(func(t *testing.T, data []byte, num uint64) {
		orig := bytes.Clone(data)
		var got []rec
		var prevEnd int64
		_, err := scanSegment(num, data, func(off, end int64, p []byte) error {
			switch {
			case off < prevEnd || end > int64(len(data)) || end != off+headerSize+int64(len(p)):
				t.Fatalf("record %d..%d (payload %d) after %d in %d bytes", off, end, len(p), prevEnd, len(data))
			case !bytes.Equal(p, data[off+headerSize:end]):
				t.Fatalf("payload at %d is not the file's bytes", off)
			case !checkCRC(num, data, off, end):
				t.Fatalf("record at %d: CRC does not validate", off)
			}
			lf := binary.LittleEndian.Uint32(data[off+4:])
			if int64(lf&lenMask) != int64(len(p)) {
				t.Fatalf("record at %d: length field %#x for %d bytes", off, lf, len(p))
			}
			if lf&firstFlag != 0 && off%BlockSize != 0 {
				t.Fatalf("record at %d flagged first off a block boundary", off)
			}
			if off > prevEnd {
				// Only padding is skipped: zeros up to the boundary, and
				// then a flush's first record.
				if off != alignUp(prevEnd) || !allZero(data[prevEnd:off]) || lf&firstFlag == 0 {
					t.Fatalf("skipped %d..%d to a record flagged %v", prevEnd, off, lf&firstFlag != 0)
				}
			}
			prevEnd = end
			got = append(got, rec{Pos{num, off}, Pos{num, end}, bytes.Clone(p)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, orig) {
			t.Fatal("scanSegment modified its input")
		}
		var again []rec
		scanSegment(num, data, func(off, end int64, p []byte) error {
			again = append(again, rec{Pos{num, off}, Pos{num, end}, bytes.Clone(p)})
			return nil
		})
		if d := sameRecs(again, got); d != "" {
			t.Fatalf("second scan: %s", d)
		}

		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(num)), data, 0o640); err != nil {
			t.Fatal(err)
		}
		opts := Options{SegmentSize: 4 * BlockSize, NoSync: true}
		for i := range 2 {
			var opened []rec
			l, err := Open(dir, opts, func(at, end Pos, p []byte) error {
				opened = append(opened, rec{at, end, bytes.Clone(p)})
				return nil
			})
			if num >= maxSegmentNumber {
				if err == nil {
					t.Fatal("Open with the last segment number taken succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if d := sameRecs(opened, got); d != "" {
				t.Fatalf("Open %d: %s", i, d)
			}
		}
	})
}
