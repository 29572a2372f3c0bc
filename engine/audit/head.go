package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"
)

// Head is the start of a record: its sequence, time and kind. It is what a
// reader that only counts records needs (the dashboard's last-hour
// counters), and what the stores read of a record when they binary-search
// the trail by time.
type Head struct {
	Seq  uint64
	Time time.Time
	Kind Kind
}

// Head returns the record's head.
func (r *Record) Head() Head { return Head{Seq: r.Seq, Time: r.Time, Kind: r.Kind} }

// DecodeHead reads the head of a stored record: sha256(body) ‖ body, as
// Seal makes it. Seal encodes the struct in field order, so the body
// begins {"seq":N,"time":"…","kind":"…"; DecodeHead reads those three
// without decoding the rest, and falls back to a JSON decode of the body
// (the same values json.Unmarshal of the whole record gives) whenever the
// bytes differ from that shape in any way: escapes, spaces, another key
// order, a number that is not a plain integer.
//
// It checks neither the hash nor the rest of the body: VerifyAudit does.
func DecodeHead(v []byte) (Head, error) {
	if len(v) < sha256.Size {
		return Head{}, ErrChainBroken
	}
	body := v[sha256.Size:]
	if h, _, ok := scanHead(body); ok {
		return h, nil
	}
	var r struct {
		Seq  uint64    `json:"seq"`
		Time time.Time `json:"time"`
		Kind Kind      `json:"kind"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Head{}, fmt.Errorf("decode record head: %w", err)
	}
	return Head{Seq: r.Seq, Time: r.Time, Kind: r.Kind}, nil
}

var (
	headSeq  = []byte(`{"seq":`)
	headTime = []byte(`,"time":`)
	headKind = []byte(`,"kind":`)
)

// scanHead reads {"seq":N,"time":"T","kind":"K" followed by ',' or '}',
// and returns the length of that prefix (up to the kind's closing quote);
// ok is false when body does not begin exactly so.
func scanHead(body []byte) (h Head, n int, ok bool) {
	b, ok := bytes.CutPrefix(body, headSeq)
	if !ok {
		return h, 0, false
	}
	// The sequence: a plain decimal integer as encoding/json writes a
	// uint64 (no sign, no leading zero, no fraction or exponent).
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if h.Seq > (^uint64(0)-d)/10 {
			return h, 0, false // overflows: json.Unmarshal refuses it
		}
		h.Seq = h.Seq*10 + d
	}
	if i == 0 || (i > 1 && b[0] == '0') {
		return h, 0, false
	}
	if b, ok = bytes.CutPrefix(b[i:], headTime); !ok {
		return h, 0, false
	}
	// The time: a JSON string without escapes, parsed as encoding/json
	// parses a time.Time (its UnmarshalJSON, given the quoted bytes).
	end := plainString(b)
	if end < 0 || h.Time.UnmarshalJSON(b[:end+1]) != nil {
		return h, 0, false
	}
	if b, ok = bytes.CutPrefix(b[end+1:], headKind); !ok {
		return h, 0, false
	}
	end = plainString(b)
	if end < 0 || end+1 >= len(b) || (b[end+1] != ',' && b[end+1] != '}') {
		return h, 0, false
	}
	h.Kind = kindOf(b[1:end])
	return h, len(body) - len(b) + end + 1, true
}

// plainString returns the index of the quote that closes the JSON string
// b begins with, or -1 when b does not begin with a quote or the string
// holds an escape, a control character or a byte outside ASCII (which
// json.Unmarshal could decode to other bytes; the caller falls back to it).
func plainString(b []byte) int {
	if len(b) == 0 || b[0] != '"' {
		return -1
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i
		case c == '\\' || c < 0x20 || c >= 0x80:
			return -1
		}
	}
	return -1
}

// kindOf returns b as a Kind, without allocating for the kinds of the
// catalogue.
func kindOf(b []byte) Kind {
	switch string(b) {
	case string(KindReceived):
		return KindReceived
	case string(KindUnmatched):
		return KindUnmatched
	case string(KindStale):
		return KindStale
	case string(KindMatched):
		return KindMatched
	case string(KindMatchError):
		return KindMatchError
	case string(KindStepSkipped):
		return KindStepSkipped
	case string(KindStepRefused):
		return KindStepRefused
	case string(KindStepStarted):
		return KindStepStarted
	case string(KindStepSucceeded):
		return KindStepSucceeded
	case string(KindStepFailed):
		return KindStepFailed
	case string(KindStepDryRun):
		return KindStepDryRun
	case string(KindInterrupted):
		return KindInterrupted
	case string(KindStepHeld):
		return KindStepHeld
	case string(KindAuthFailed):
		return KindAuthFailed
	case string(KindReload):
		return KindReload
	case string(KindApproval):
		return KindApproval
	case string(KindBreakerOpened):
		return KindBreakerOpened
	case string(KindBreakerHalfOpen):
		return KindBreakerHalfOpen
	case string(KindBreakerClosed):
		return KindBreakerClosed
	case string(KindBreakerReset):
		return KindBreakerReset
	case string(KindBreakerNotified):
		return KindBreakerNotified
	case string(KindPaused):
		return KindPaused
	case string(KindResumed):
		return KindResumed
	case string(KindCheckpoint):
		return KindCheckpoint
	}
	return Kind(b)
}

// HeadOnly reports whether q filters only on what a Head holds (the
// sequence, the time range and the kind), so that MatchHead can apply it
// without the rest of the record.
func (q Query) HeadOnly() bool {
	return q.EventID == "" && q.Playbook == "" && q.Action == "" && q.Outcome == ""
}

// MatchHead is Match for a record of which only the head is read; it
// ignores the filters of q HeadOnly is false for.
func (q Query) MatchHead(h Head) bool {
	return (q.Kind == "" || h.Kind == q.Kind) &&
		(q.Since.IsZero() || !h.Time.Before(q.Since)) &&
		(q.Until.IsZero() || h.Time.Before(q.Until))
}
