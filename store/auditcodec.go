package store

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"

	"github.com/firebreak/firebreak/engine/audit"
)

// How the bbolt file keeps an audit record. audit.Seal makes the sealed
// value sha256(body) ‖ body, body being the record's JSON; the hash, the
// chain and everything a reader sees are defined on those bytes. On disk
// the body may instead be packed:
//
//	sha256(body) ‖ body                                a body starts with '{'
//	sha256(body) ‖ 0x01 ‖ prev ‖ s2(rest, dict v1)     packed, v1
//
// A sealed body ends with its link, `,"prev":"<64 hex digits>"}`. Packed,
// the link's 32 bytes are kept as they are (prev) rather than as 64 hex
// digits, and rest — the body up to the digits, `…,"prev":"` — is an S2
// block that may copy from a dictionary of typical records. Records repeat
// their keys, kinds, outcomes and much of their data from event to event,
// so a record keeps about half its bytes, at about a microsecond to pack
// and a fifth of that to unpack (BenchmarkAuditCodec; zstd with the same
// dictionary, which also entropy-codes, costs eight times as much). The
// hash stays that of the JSON: `firebreak audit verify`, exports, anchors
// and checkpoints do not change, and a file holding both forms (written
// before and after this codec) reads as one trail. A body that does not
// end with a link in Seal's form (lowercase hex), or does not get smaller,
// is stored sealed. Readers unpack every value they read (unpackRecord);
// the stored size (audit_bytes, retention's max_bytes) is the packed size.
//
// The dictionary is part of the file format: auditdict/v1.json (records of
// the engine's shapes over the sample payloads, plus one of each rarer
// kind, with neutral hashes and hosts) never changes, and
// TestAuditDictionaryIsFrozen pins its hash. A better dictionary gets the
// next codec byte, and readers keep every earlier one.
const (
	codecS2V1 = 0x01
	// maxRecordBody bounds what a stored record may unpack to, so that a
	// damaged or forged file cannot make a reader allocate without bound;
	// it is far above any record the engine writes.
	maxRecordBody = 16 << 20
)

//go:embed auditdict/v1.json
var auditDictV1 []byte

// dictV1 is the S2 dictionary: its content, and as the first repeat
// offset the start of its last record (a record starts the same way).
var dictV1 = sync.OnceValue(func() *s2.Dict {
	repeat := bytes.LastIndex(auditDictV1, []byte(`{"seq":`))
	d := s2.NewDict(append(binary.AppendUvarint(nil, uint64(repeat)), auditDictV1...))
	if d == nil {
		panic("audit codec: the v1 dictionary does not load") // only on a bad embedded file
	}
	return d
})

// linkHead and linkTail surround the hex digits of a sealed body's link.
var linkHead, linkTail = []byte(`,"prev":"`), []byte(`"}`)

// packedHead is the bytes before a packed record's S2 block.
const packedHead = sha256.Size + 1 + sha256.Size

// packRecord returns the stored form of a sealed record: packed when its
// body ends with a link in Seal's form and packing makes it smaller, else
// the sealed value itself.
func packRecord(sealed []byte) []byte {
	if len(sealed) <= sha256.Size {
		return sealed
	}
	body := sealed[sha256.Size:]
	digits := len(body) - len(linkTail) - 2*sha256.Size // where the link's digits start
	if digits < len(linkHead) || !bytes.HasSuffix(body, linkTail) || !bytes.Equal(body[digits-len(linkHead):digits], linkHead) {
		return sealed
	}
	rest := body[:digits] // up to the link's opening quote; unpacking adds the digits and the close
	out := make([]byte, packedHead+s2.MaxEncodedLen(len(rest)))
	copy(out, sealed[:sha256.Size])
	out[sha256.Size] = codecS2V1
	if !lowerHex(out[sha256.Size+1:packedHead], body[digits:digits+2*sha256.Size]) {
		return sealed
	}
	enc := dictV1().Encode(out[packedHead:], rest)
	if len(enc) == 0 || packedHead+len(enc) >= len(sealed) {
		return sealed
	}
	return out[:packedHead+len(enc)]
}

// lowerHex decodes the lowercase hex digits src into dst (half their
// length), reporting false for anything else (hex.Decode would take
// uppercase too, which would not encode back to the same bytes).
func lowerHex(dst, src []byte) bool {
	val := func(c byte) (byte, bool) {
		switch {
		case '0' <= c && c <= '9':
			return c - '0', true
		case 'a' <= c && c <= 'f':
			return c - 'a' + 10, true
		}
		return 0, false
	}
	for i := range dst {
		hi, ok1 := val(src[2*i])
		lo, ok2 := val(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// isPacked reports whether the stored value v is a packed record.
func isPacked(v []byte) bool { return len(v) > sha256.Size && v[sha256.Size] == codecS2V1 }

// errBadRecord is what unpackRecord wraps for a value it cannot unpack.
var errBadRecord = errors.New("stored record cannot be unpacked")

// unpackRecord returns the sealed form (sha256(body) ‖ body) of a stored
// record. A value already sealed is returned as it is, without a copy;
// a packed one is unpacked into buf's space (buf may be nil), which the
// result then shares. It does not check the hash (VerifyAudit does); a
// value it cannot unpack gives an error wrapping audit.ErrChainBroken.
func unpackRecord(v, buf []byte) ([]byte, error) {
	if !isPacked(v) {
		return v, nil
	}
	bad := func(err error) error { return fmt.Errorf("%w: %v: %w", errBadRecord, err, audit.ErrChainBroken) }
	if len(v) < packedHead {
		return nil, bad(fmt.Errorf("%d bytes, shorter than a packed record's head", len(v)))
	}
	block := v[packedHead:]
	n, err := s2.DecodedLen(block)
	if err == nil && n > maxRecordBody {
		err = fmt.Errorf("unpacks to %d bytes, over the %d a record may hold", n, maxRecordBody)
	}
	if err != nil {
		return nil, bad(err)
	}
	size := sha256.Size + n + 2*sha256.Size + len(linkTail) // the rest, the link's digits and close
	out := buf[:0]
	if cap(out) < size {
		out = make([]byte, 0, size)
	}
	out = append(out, v[:sha256.Size]...)
	rest, err := dictV1().Decode(out[sha256.Size:sha256.Size+n], block)
	if err != nil {
		return nil, bad(err)
	}
	if !bytes.HasSuffix(rest, linkHead) {
		return nil, bad(errors.New("the unpacked body does not end with its link"))
	}
	out = append(out[:sha256.Size], rest...) // rest is in place already: a copy onto itself
	out = hex.AppendEncode(out, v[sha256.Size+1:packedHead])
	return append(out, linkTail...), nil
}
