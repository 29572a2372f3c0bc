package wal

import (
	"encoding/binary"
	"hash/crc32"
)

// Record framing; doc.go explains the format and why it is this way.
const (
	headerSize = 8 // CRC32C (4 bytes LE) + length field (4 bytes LE)

	// firstFlag, the top bit of the length field, marks the first record
	// of a flush's run of records in a segment. Such a record always starts
	// at a block boundary. Recovery only crosses zero padding when the
	// record after it carries the flag.
	firstFlag = 1 << 31
	lenMask   = firstFlag - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordCRC returns the CRC of a record: CRC32C over the payload, then the
// 4 bytes of the length field, then the segment number (8 bytes LE).
// payloadCRC is crc32.Update(0, castagnoli, payload), which Write computes
// before it takes the lock.
func recordCRC(payloadCRC, lenField uint32, numLE *[8]byte) uint32 {
	var tail [12]byte
	binary.LittleEndian.PutUint32(tail[0:4], lenField)
	copy(tail[4:], numLE[:])
	return crc32.Update(payloadCRC, castagnoli, tail[:])
}

// usableNumber reports whether segment number n can be used: a zero-length
// record of segment n must not have CRC 0, or its all-zero header could
// not be told from padding. About one number in 2^32 fails; the allocator
// skips it. Zero is never a segment number.
func usableNumber(n uint64) bool {
	if n == 0 {
		return false
	}
	var le [8]byte
	binary.LittleEndian.PutUint64(le[:], n)
	return recordCRC(0, 0, &le) != 0
}

func alignUp(off int64) int64 {
	return (off + BlockSize - 1) &^ (BlockSize - 1)
}

// recordAt decodes the record at off in data, the content of segment num
// (numLE is num in little-endian). It returns the payload length and
// whether the record carries firstFlag; ok is false when there is no valid
// record there: a short header, an all-zero header, a length running past
// the end, a CRC mismatch, or a flagged record off a block boundary.
func recordAt(data []byte, off int64, numLE *[8]byte) (plen int64, first, ok bool) {
	size := int64(len(data))
	if off+headerSize > size {
		return 0, false, false
	}
	crc := binary.LittleEndian.Uint32(data[off:])
	lf := binary.LittleEndian.Uint32(data[off+4:])
	if crc == 0 && lf == 0 {
		return 0, false, false // padding or unwritten space
	}
	plen = int64(lf & lenMask)
	if plen > size-off-headerSize {
		return 0, false, false
	}
	first = lf&firstFlag != 0
	if first && off%BlockSize != 0 {
		return 0, false, false
	}
	payload := data[off+headerSize : off+headerSize+plen]
	if recordCRC(crc32.Update(0, castagnoli, payload), lf, numLE) != crc {
		return 0, false, false
	}
	return plen, first, true
}

// scanSegment calls fn for each valid record of segment num, whose file
// content is data, in order, with the record's offset, the offset just
// after it and its payload (a sub-slice of data). It returns how many
// records it found, or fn's error. It never modifies data.
//
// The rules (doc.go has the reasons):
//   - a valid record is taken and the scan goes on right after it;
//   - otherwise, off a block boundary, if every byte up to the next
//     boundary is zero, that is a flush's padding: the scan jumps to the
//     boundary, and there the record must be valid and carry firstFlag;
//   - anything else ends the segment.
func scanSegment(num uint64, data []byte, fn func(off, end int64, payload []byte) error) (int, error) {
	var numLE [8]byte
	binary.LittleEndian.PutUint64(numLE[:], num)
	size := int64(len(data))
	count := 0
	afterPad := false
	for off := int64(0); off < size; {
		plen, first, ok := recordAt(data, off, &numLE)
		if ok && (first || !afterPad) {
			end := off + headerSize + plen
			if fn != nil {
				if err := fn(off, end, data[off+headerSize:end]); err != nil {
					return count, err
				}
			}
			count++
			off = end
			afterPad = false
			continue
		}
		if ok || afterPad || off%BlockSize == 0 {
			break
		}
		next := min(alignUp(off), size)
		if !allZero(data[off:next]) {
			break
		}
		off = next
		afterPad = true
	}
	return count, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
