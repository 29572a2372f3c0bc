package store

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/firebreak/firebreak/engine/event"
)

// appendEventOpen appends ev without its body (Raw) as encoding/json
// marshals it, less the closing brace, so that the caller adds the body or
// a reference to it without copying the object again. It spends no
// reflection on the fixed fields; ingest encodes every event it accepts,
// and json.Marshal was a tenth of the process's CPU on that path.
//
// ok is false when the event holds what only encoding/json can write or
// refuse (a time outside the years 0–9999, a Fields value it cannot
// encode, such as NaN): the caller then uses json.Marshal.
// FuzzAppendEvent checks that the output is json.Marshal's, byte for
// byte, and TestAppendEventCoversEveryField that no field of the event is
// left out.
func appendEventOpen(b []byte, ev *event.Event) (out []byte, ok bool) {
	b = append(b, `{"id":`...)
	b = appendString(b, ev.ID)
	b = append(b, `,"source":`...)
	b = appendString(b, ev.Source)
	b = append(b, `,"status":`...)
	b = appendString(b, ev.Status)
	b = append(b, `,"name":`...)
	b = appendString(b, ev.Name)
	b = append(b, `,"severity":`...)
	b = appendString(b, ev.Severity)
	b = appendOptString(b, `,"fingerprint":`, ev.Fingerprint)
	b = appendStringMap(b, `,"labels":`, ev.Labels)
	b = appendStringMap(b, `,"annotations":`, ev.Annotations)
	if len(ev.Fields) > 0 {
		b = append(b, `,"fields":`...)
		if b, ok = appendAny(b, ev.Fields); !ok {
			return b, false
		}
	}
	b = appendOptString(b, `,"namespace":`, ev.Namespace)
	b = appendOptString(b, `,"workload":`, ev.Workload)
	b = appendOptString(b, `,"pod":`, ev.Pod)
	b = appendOptString(b, `,"host":`, ev.Host)
	b = appendOptString(b, `,"src_ip":`, ev.SrcIP)
	b = appendOptString(b, `,"dst_ip":`, ev.DstIP)
	b = appendOptString(b, `,"user":`, ev.User)
	b = appendOptString(b, `,"sender":`, ev.Sender)
	// encoding/json ignores omitempty on structs: ends_at is always there.
	for _, f := range []struct {
		name string
		t    time.Time
	}{{`,"starts_at":`, ev.StartsAt}, {`,"ends_at":`, ev.EndsAt}, {`,"received_at":`, ev.ReceivedAt}} {
		b = append(b, f.name...)
		b = append(b, '"')
		var err error
		if b, err = f.t.AppendText(b); err != nil {
			return b, false
		}
		b = append(b, '"')
	}
	if ev.Stale {
		b = append(b, `,"stale":true`...)
	}
	return b, true
}

func appendOptString(b []byte, member, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, member...), s)
}

// appendStringMap appends a map member with its keys sorted, as
// encoding/json does; an empty map is omitted (omitempty).
func appendStringMap(b []byte, member string, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	b, _ = appendObject(append(b, member...), m, appendStringValue)
	return b
}

func appendStringValue(b []byte, s string) ([]byte, bool) { return appendString(b, s), true }

// appendObject appends m as a JSON object with its keys sorted, as
// encoding/json does, writing each value with value; ok is false when
// value fails.
func appendObject[V any](b []byte, m map[string]V, value func([]byte, V) ([]byte, bool)) ([]byte, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var ok bool
		if b, ok = value(b, m[k]); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendAny appends v as encoding/json marshals it. The value types that
// decoders put in Fields are written here; any other goes through
// json.Marshal. ok is false where json.Marshal fails.
func appendAny(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendString(b, x), true
	case bool:
		return strconv.AppendBool(b, x), true
	case float64:
		return appendFloat(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case map[string]string:
		if x == nil {
			return append(b, "null"...), true
		}
		return appendObject(b, x, appendStringValue)
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		return appendObject(b, x, appendAny)
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendAny(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	m, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(b, m...), true
}

// appendFloat writes f as encoding/json does: the shortest decimal form
// that reads back the same, in exponent form below 1e-6 and from 1e21,
// with the exponent's leading zero dropped (1e-7, not 1e-07). JSON has no
// NaN or infinities.
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json writes it:
// <, > and & escaped for HTML, invalid UTF-8 as U+FFFD, and U+2028 and
// U+2029 escaped for JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendMember appends "name":value and the closing brace to an object
// that appendEventOpen left open.
func appendMember(open []byte, name string, value []byte) []byte {
	open = append(open, ',', '"')
	open = append(open, name...)
	open = append(open, '"', ':')
	open = append(open, value...)
	return append(open, '}')
}

// appendUintMember is appendMember for a number.
func appendUintMember(open []byte, name string, v uint64) []byte {
	open = append(open, ',', '"')
	open = append(open, name...)
	open = append(open, '"', ':')
	open = strconv.AppendUint(open, v, 10)
	return append(open, '}')
}
