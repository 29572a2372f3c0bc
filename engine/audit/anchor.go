package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// SignedCheckpoint is an anchor of the audit chain: the sequence and hash
// of a record, signed with the server's ed25519 key. It is written to the
// trail (as an audit.checkpoint record with outcome "signed", right after
// the record it names) and handed to the witnesses, who keep it where an
// editor of the database cannot reach.
type SignedCheckpoint struct {
	// Seq is the sequence of the record signed.
	Seq uint64 `json:"seq"`
	// Hash is the hex SHA-256 of that record's stored body; since each
	// record holds its predecessor's hash, it commits to the whole chain
	// up to Seq.
	Hash string `json:"hash"`
	// Time is when the checkpoint was made.
	Time time.Time `json:"time"`
	// Every is the signer's promise: at most this many records follow a
	// signed checkpoint before the next one.
	Every int `json:"every"`
	// KeyID names the public key: the hex of the first 8 bytes of its
	// SHA-256.
	KeyID string `json:"key_id"`
	// Signature is the base64 ed25519 signature of Message().
	Signature string `json:"signature"`
}

// Message returns the bytes the signature covers:
//
//	firebreak audit checkpoint v1
//	seq=<seq>
//	hash=<hex sha-256>
//	time=<RFC 3339, nanoseconds, UTC>
//	every=<records>
func (c SignedCheckpoint) Message() []byte {
	return []byte("firebreak audit checkpoint v1\nseq=" + strconv.FormatUint(c.Seq, 10) +
		"\nhash=" + c.Hash + "\ntime=" + c.Time.UTC().Format(time.RFC3339Nano) + "\nevery=" + strconv.Itoa(c.Every) + "\n")
}

// Verify checks the signature with pub. It returns an error wrapping
// ErrChainBroken when the checkpoint was not signed by pub's key.
func (c SignedCheckpoint) Verify(pub ed25519.PublicKey) error {
	if c.KeyID != KeyID(pub) {
		return fmt.Errorf("checkpoint of record %d is signed by key %s, not %s: %w", c.Seq, c.KeyID, KeyID(pub), ErrChainBroken)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.Message(), sig) {
		return fmt.Errorf("checkpoint of record %d: the signature does not match: %w", c.Seq, ErrChainBroken)
	}
	return nil
}

// KeyID names an ed25519 public key: the hex of the first 8 bytes of its
// SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// VerifyOptions are what a verifier brings from outside the file.
type VerifyOptions struct {
	// PublicKey, when set, checks every checkpoint signed by its key and
	// requires the trail to be anchored: a signed checkpoint must exist and
	// at most its promised number of records may follow the newest one.
	PublicKey ed25519.PublicKey
	// Witness are checkpoints a witness kept outside the database (the
	// witness file, or what a witness service received). Each must be
	// signed by PublicKey (needed with Witness) and name a record the
	// trail still holds with the same hash, or one retention removed.
	Witness []SignedCheckpoint
}

// VerifyReport says what VerifyAuditWith checked.
type VerifyReport struct {
	// Records is the number of records checked.
	Records int `json:"records"`
	// Head is the sequence of the newest record.
	Head uint64 `json:"head"`
	// Written is the number of records ever written (the audit bucket's
	// sequence); Head must equal it.
	Written uint64 `json:"written"`
	// InboxChecked counts the processed inbox events whose records were
	// looked up.
	InboxChecked int `json:"inbox_checked"`
	// Signed counts the checkpoints whose signature was checked.
	Signed int `json:"signed"`
	// OtherKeys counts checkpoints signed by another key (not checked).
	OtherKeys int `json:"other_keys,omitempty"`
	// NewestSigned is the newest checkpoint signed by the key.
	NewestSigned *SignedCheckpoint `json:"newest_signed,omitempty"`
	// Unsigned is the number of records after the newest signed checkpoint.
	Unsigned uint64 `json:"unsigned"`
	// Witnessed counts the witness checkpoints found in the chain.
	Witnessed int `json:"witnessed"`
	// Notes say what could not be checked, and why.
	Notes []string `json:"notes,omitempty"`
}

// SignedCheckpointOf reads a signed checkpoint record's data, as both
// stores keep it.
func SignedCheckpointOf(r *Record) (SignedCheckpoint, error) {
	b, err := json.Marshal(r.Data)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	var cp SignedCheckpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return SignedCheckpoint{}, fmt.Errorf("signed checkpoint data: %w", err)
	}
	return cp, nil
}

// Seal encodes rec as every store keeps it: the SHA-256 of its JSON body,
// then the body. The chain's format is defined here once. The body is what
// json.Marshal gives (an Encoder with its defaults writes the same bytes
// and a newline); it is encoded straight behind room for the hash, so the
// value is built in one buffer rather than encoded and then copied.
func Seal(rec *Record) ([]byte, error) {
	if rec.middle != nil {
		if val, ok := sealPrepared(rec); ok {
			return val, nil
		}
	}
	var buf bytes.Buffer
	buf.Grow(sealGuess)
	buf.Write(make([]byte, sha256.Size))
	if err := json.NewEncoder(&buf).Encode(rec); err != nil {
		return nil, fmt.Errorf("audit: encode %s: %w", rec.Kind, err)
	}
	val := buf.Bytes()
	val = val[:len(val)-1] // the Encoder's newline
	sum := sha256.Sum256(val[sha256.Size:])
	copy(val, sum[:])
	return val, nil
}

// sealGuess is the buffer Seal starts with: most records fit, so the body
// is encoded without the buffer growing.
const sealGuess = 1024

// Prepare returns rec with the JSON of its fields from Kind to Data
// encoded now, so that Seal, which runs in the store's transaction, only
// encodes the sequence, the time and the link the store fills in: the
// transaction is the one serial section of a store, and encoding a
// record's data was much of what it did per record. The sealed bytes are
// the same either way. rec must not change between Prepare and Seal but
// for those three fields; anything that must change the rest (a
// redactor) runs before Prepare. A record whose fields cannot be encoded
// is returned as it is, for Seal to report.
//
// by names what the record was prepared under — the store passes its
// redactor — and PreparedBy returns it, so that the store can tell a
// record it redacted and prepared from one prepared elsewhere or under
// a redactor since replaced, which it redacts and encodes afresh.
func Prepare(rec Record, by any) Record {
	probe := rec
	probe.Seq, probe.Time, probe.Prev, probe.middle, probe.by = 0, time.Time{}, "", nil, nil
	b, err := json.Marshal(&probe)
	if err != nil || !bytes.HasPrefix(b, middleHead) || !bytes.HasSuffix(b, middleTail) || len(b) < len(middleHead)+len(middleTail) {
		return rec
	}
	rec.middle, rec.by = b[len(middleHead):len(b)-len(middleTail)], by
	return rec
}

// Prepared reports whether Prepare encoded rec's fields from Kind to Data.
func (r *Record) Prepared() bool { return r.middle != nil }

// PreparedBy returns what Prepare was given as by, nil when unprepared.
func (r *Record) PreparedBy() any { return r.by }

// Unprepared returns rec without what Prepare encoded: for a record that
// is handed on after the store wrote it, or one to encode afresh.
func Unprepared(rec Record) Record {
	rec.middle, rec.by = nil, nil
	return rec
}

// What a record with a zero sequence, time and link encodes to around
// its middle (Prepare).
var (
	middleHead = []byte(`{"seq":0,"time":"0001-01-01T00:00:00Z",`)
	middleTail = []byte(`,"prev":""}`)
)

// sealPrepared is Seal for a prepared record; ok is false when a field
// the store filled in must be left to encoding/json (a time it cannot
// encode, a link that is not plain hex).
func sealPrepared(rec *Record) ([]byte, bool) {
	for i := 0; i < len(rec.Prev); i++ {
		if c := rec.Prev[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return nil, false
		}
	}
	t, err := rec.Time.MarshalJSON()
	if err != nil {
		return nil, false
	}
	val := make([]byte, sha256.Size, sha256.Size+len(rec.middle)+len(rec.Prev)+len(t)+48)
	val = append(val, `{"seq":`...)
	val = strconv.AppendUint(val, rec.Seq, 10)
	val = append(val, `,"time":`...)
	val = append(val, t...)
	val = append(val, ',')
	val = append(val, rec.middle...)
	val = append(val, `,"prev":"`...)
	val = append(val, rec.Prev...)
	val = append(val, `"}`...)
	sum := sha256.Sum256(val[sha256.Size:])
	copy(val, sum[:])
	return val, true
}
