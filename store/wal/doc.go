// Package wal is a write-ahead log for the event receiver: an HTTP handler
// appends its event with Write and answers only once the Commit is done,
// that is once the record is on disk. Many handlers share one fdatasync
// (group commit), and commits are pipelined: while one flush's pwrite and
// fdatasync run, the Writes that arrive meanwhile fill the next group in
// memory. A mover copies durable records elsewhere and calls Release, and
// the log recycles the segment files it no longer needs.
//
// # Files
//
// The log is a directory of segment files named %016x.log after their
// segment number (a uint64, increasing, the first is 1). Each is exactly
// SegmentSize bytes, preallocated by writing zeros and fsynced (and the
// directory fsynced after every create or rename). Zeros are written, not
// fallocated or ftruncated: on ext4 the first write into an unwritten or
// sparse block makes fdatasync journal the allocation as well, which we
// measured at 580 µs against 350 µs per fdatasync of 12 pages.
//
// A background goroutine keeps one spare segment ready ahead of need, so a
// roll rarely waits: a recycled file if there is one, else a newly zeroed
// one. Recycling renames a released segment file to a future number and
// leaves its content as it is: the stale records in it carry the old
// number in their CRC and can never validate under the new name. At most
// two spares are kept; further released files are removed. Segment numbers
// whose zero-length record would have CRC 0 are skipped (about one in 2^32;
// see padding below). Segments found by Open are never appended to again:
// new records go to numbers above every file found, because a file's torn
// tail is not known to be safe to write after. Found segments with no
// valid record are recycled at once.
//
// # Records
//
// A record is
//
//	crc     uint32 LE  CRC32C (Castagnoli) of payload ‖ length field ‖ segment number (uint64 LE)
//	length  uint32 LE  low 31 bits: payload length; top bit: first record of a flush in this segment
//	payload length bytes
//
// The CRC covers the segment number, so a stale record in a recycled file
// fails it. The payload comes first in the CRC so that Write can checksum
// the payload before it takes the log's lock; only the 12 bytes of length
// and segment number are added under it. A zero-length record still has a
// non-zero CRC (the segment number is covered and numbers giving 0 are never
// used), so an all-zero header is never a record.
//
// The top bit of the length field (the "first" flag) marks the first
// record each flush puts into a segment; such a record always starts on a
// block boundary. It is what lets recovery skip padding safely (below).
// Payloads are limited to SegmentSize-BlockSize-8 bytes (and 2^31-1);
// larger ones get ErrTooLarge. Records never span segments: a record that
// does not fit in the rest of the current segment goes to offset 0 of the
// next one, and the rest of the old one is left as it is.
//
// # Flushes
//
// Each flush writes its records contiguously from a BlockSize-aligned
// offset and pads them with zeros to the next BlockSize boundary, where the
// next flush starts. A flush therefore never rewrites a block, or a sector,
// holding an earlier, acknowledged flush, so a torn write can only damage
// the flush being written. A flush that rolled into the next segment has a
// chunk in each: the first is written and fdatasynced before the second is
// written, so anything of the second on disk implies all of the first.
//
// If a pwrite or fdatasync fails, every Commit of that flush gets the error
// (naming the file and what failed), and so do the Writes already queued
// behind it, whose positions lie after the failed region. Later Writes go
// to a fresh segment, so nothing is ever written after a failed region. If
// no fresh segment can be had, those Writes fail until one can: the
// preparer retries every second, and at once when a Write finds it
// failing (that Write waits for the attempt). Records of a failed flush may
// or may not be found by a later Open.
//
// # Recovery
//
// Open reads the segments in number order, each from offset 0:
//
//   - a valid record (length within the file, CRC matching, the first
//     flag only at a block boundary) is returned, and reading goes on
//     right after it;
//   - otherwise, at an offset inside a block, if every byte up to the next
//     block boundary is zero, that is padding: reading jumps to the
//     boundary, and the record found there must be valid and carry the
//     first flag, or the segment ends;
//   - anything else ends the segment: a zero header at a block start
//     (unwritten space), a CRC mismatch or a length past the end (a torn
//     or stale tail), or a short file.
//
// Then it goes on with the next segment. Why the first flag: within a
// flush, a block that did not reach the disk reads as zeros (or stale
// bytes). Without the flag, a lost block in the middle of a flush whose
// zeros happened to follow a record that was still intact would look like
// padding, and recovery would resume at a later record of the same flush,
// behind a hole. Only a flush's first record carries the flag, and a flush
// is written only after the one before it is durable, so a jump over zeros
// can only land on the start of a flush that was written after everything
// before it.
//
// The result is a prefix of the log's records (per run of segments written
// without a failure in between), including every acknowledged one. Open
// does not modify the files it reads records from.
package wal
