package sources

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/firebreak/firebreak/engine/event"
)

// maxDepth bounds how deep decodeObject walks nested JSON, so a hostile body
// cannot exhaust the stack in normalise.
const maxDepth = 64

// keepDistinct makes a body that is not valid UTF-8 decodable without
// losing distinctions: encoding/json turns every invalid byte into U+FFFD,
// so "u8\xfe" and "u8\xfd" would both read "u8\ufffd" and two events
// would share one id (the second refused as a duplicate). Each JSON string
// that holds invalid bytes keeps its lossy text and gains "~" and 16 hex
// digits of the SHA-256 of its raw bytes, so distinct values stay distinct
// and a redelivery still maps to the same id. A valid body is returned as is.
func keepDistinct(body []byte) []byte {
	if utf8.Valid(body) {
		return body
	}
	out := make([]byte, 0, len(body)+64)
	for i := 0; i < len(body); {
		if body[i] != '"' {
			out = append(out, body[i])
			i++
			continue
		}
		j := i + 1
		for j < len(body) && body[j] != '"' {
			if body[j] == '\\' {
				j++
			}
			j++
		}
		end := min(j, len(body))
		lit := body[i+1 : end]
		out = append(out, '"')
		if utf8.Valid(lit) {
			out = append(out, lit...)
		} else {
			sum := sha256.Sum256(lit)
			out = append(out, bytes.ToValidUTF8(lit, []byte("\uFFFD"))...)
			out = append(out, '~')
			out = append(out, hex.EncodeToString(sum[:8])...)
		}
		if j < len(body) {
			out = append(out, '"')
		}
		i = j + 1
	}
	return out
}

// decodeObject parses body as one JSON object. Numbers become int64 when they
// are integers that fit and float64 otherwise, so rules compare them as
// numbers; everything else is what encoding/json produces.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(keepDistinct(body)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err)
	}
	if err := noTrailing(dec); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &DecodeError{Msg: "body must be a JSON object, got " + kindOf(v)}
	}
	if tooDeep(m, 0) {
		return nil, &DecodeError{Msg: fmt.Sprintf("JSON nested deeper than %d levels", maxDepth)}
	}
	return normalise(m).(map[string]any), nil
}

// noTrailing refuses data after the first JSON value, as json.Unmarshal
// does: two concatenated bodies are a sender bug, not two alerts.
func noTrailing(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return &DecodeError{Msg: "malformed JSON: data after the top-level value"}
	}
	return nil
}

func tooDeep(v any, depth int) bool {
	if depth > maxDepth {
		return true
	}
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if tooDeep(e, depth+1) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if tooDeep(e, depth+1) {
				return true
			}
		}
	}
	return false
}

// normalise replaces json.Number in place with int64 or float64.
func normalise(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		for k, e := range x {
			x[k] = normalise(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalise(e)
		}
		return x
	default:
		return v
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	default:
		return "number"
	}
}

// lookup finds a value by a dotted path. Keys may themselves contain dots
// (Falco's "k8s.ns.name", Elastic's flattened "kibana.alert.uuid"), so at each
// level the whole remaining path is tried as a key first, then every split
// point from the left.
func lookup(m map[string]any, path string) any {
	if m == nil {
		return nil
	}
	if v, ok := m[path]; ok {
		return v
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if sub, ok := m[path[:i]].(map[string]any); ok {
			if v := lookup(sub, path[i+1:]); v != nil {
				return v
			}
		}
	}
	return nil
}

// str returns the first of paths whose value is a non-empty scalar, as a
// string.
func str(m map[string]any, paths ...string) string {
	for _, p := range paths {
		if s, ok := scalarString(lookup(m, p)); ok && s != "" {
			return s
		}
	}
	return ""
}

// obj returns the object at path, or nil.
func obj(m map[string]any, path string) map[string]any {
	o, _ := lookup(m, path).(map[string]any)
	return o
}

// scalarString renders a JSON scalar as a string; objects, arrays and null
// are not scalars.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	default:
		return "", false
	}
}

// number returns v as a float64 when it is a number or a numeric string.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	default:
		return 0, false
	}
}

// stringMap keeps the scalar entries of an object as strings.
func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		if s, ok := scalarString(e); ok {
			out[k] = s
		}
	}
	return out
}

// timeLayouts are the timestamp spellings the sources use: RFC 3339 (with or
// without fractions), Wazuh's numeric offset without a colon, and a few
// near-misses senders produce.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.000-0700",
	"2006-01-02T15:04:05.999999999-0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// parseTime parses a timestamp string in any of timeLayouts; a layout with no
// zone is read as UTC. A string of digits is read as a Unix time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		if t, ok := unixInt(i); ok {
			return t, nil
		}
	} else if f, err := strconv.ParseFloat(s, 64); err == nil {
		if t, ok := unixTime(f); ok {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a timestamp: %q", truncate(s, 64))
}

// unixTime reads f as Unix seconds, milliseconds or nanoseconds, by magnitude.
func unixTime(f float64) (time.Time, bool) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0) || f <= 0:
		return time.Time{}, false
	case f < 1e11: // seconds until the year 5138
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	case f < 1e14: // milliseconds
		return time.UnixMilli(int64(f)).UTC(), true
	case f < 1e20: // nanoseconds (microseconds are not told apart)
		if f >= 1e17 {
			return time.Unix(0, int64(f)).UTC(), true
		}
		return time.UnixMicro(int64(f)).UTC(), true
	default:
		return time.Time{}, false
	}
}

// unixInt is unixTime for integers, exact at nanosecond magnitude.
func unixInt(i int64) (time.Time, bool) {
	if i >= 1e17 {
		return time.Unix(0, i).UTC(), true
	}
	return unixTime(float64(i))
}

// timeAt reads the first present path as a timestamp (string or number).
// Absent paths give the zero time; a present value that is not a timestamp
// is a *DecodeError naming its path.
func timeAt(m map[string]any, paths ...string) (time.Time, error) {
	for _, p := range paths {
		v := lookup(m, p)
		switch x := v.(type) {
		case nil:
			continue
		case string:
			if strings.TrimSpace(x) == "" {
				continue
			}
			t, err := parseTime(x)
			if err != nil {
				return time.Time{}, &DecodeError{Field: p, Msg: err.Error()}
			}
			return t, nil
		case int64:
			if t, ok := unixInt(x); ok {
				return t, nil
			}
			return time.Time{}, &DecodeError{Field: p, Msg: "not a Unix time"}
		case float64:
			if t, ok := unixTime(x); ok {
				return t, nil
			}
			return time.Time{}, &DecodeError{Field: p, Msg: "not a Unix time"}
		default:
			return time.Time{}, &DecodeError{Field: p, Msg: "must be a timestamp, got " + kindOf(v)}
		}
	}
	return time.Time{}, nil
}

// isIP reports whether s is an IPv4 or IPv6 address.
func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// ipAt returns the first path whose value is an IP address.
func ipAt(m map[string]any, paths ...string) string {
	for _, p := range paths {
		if s, ok := scalarString(lookup(m, p)); ok && isIP(s) {
			return s
		}
	}
	return ""
}

// valueHash is a short stable digest of a decoded JSON value (encoding/json
// sorts map keys, so equal values hash equally).
func valueHash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])[:16]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// firingOr maps a sender's state word to firing or resolved; unknown words
// are firing, since a security finding is an occurrence, not a state.
func firingOr(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "resolved", "recovered", "ok", "closed", "inactive", "normal", "false", "cleared", "clear":
		return event.StatusResolved
	default:
		return event.StatusFiring
	}
}

// lstring is a string that also accepts a JSON number or boolean (kept as
// its literal text) and null (empty).
type lstring string

// UnmarshalJSON implements json.Unmarshaler.
func (s *lstring) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		if plain, ok := plainString(b); ok {
			*s = lstring(plain)
			return nil
		}
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = lstring(v)
	case 'n':
		*s = ""
	case '{', '[':
		return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: reflect.TypeFor[string]()}
	default:
		*s = lstring(b)
	}
	return nil
}

// lmap is a string map that accepts any scalar value (numbers and booleans
// as their literal text, null dropped); a nested object or array is kept as
// its compact JSON text rather than refused.
type lmap map[string]string

// UnmarshalJSON implements json.Unmarshaler.
func (m *lmap) UnmarshalJSON(b []byte) error {
	// Fast path: the common case is all strings.
	var plain map[string]string
	if err := json.Unmarshal(b, &plain); err == nil {
		m.merge(plain)
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return &json.UnmarshalTypeError{Value: ute.Value, Type: reflect.TypeFor[map[string]string]()}
		}
		return err
	}
	if raw == nil {
		m.merge(nil)
		return nil
	}
	out := make(lmap, len(raw))
	for k, v := range raw {
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] == 'n' {
			continue
		}
		switch v[0] {
		case '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out[k] = s
		case '{', '[':
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return err
			}
			out[k] = c.String()
		default:
			out[k] = string(v)
		}
	}
	m.merge(out)
	return nil
}

// merge stores kv as encoding/json stores an object into a map it already
// holds: a field given twice (a repeated key, in any letter case) adds to
// the map rather than replacing it, and null clears it. The strict fast
// path decodes plain maps that way, so the two must agree.
func (m *lmap) merge(kv map[string]string) {
	switch {
	case kv == nil:
		*m = nil
	case *m == nil:
		*m = lmap(kv)
	default:
		for k, v := range kv {
			(*m)[k] = v
		}
	}
}

// ltime is a timestamp that accepts RFC 3339 and the other timeLayouts, a
// Unix time as a number, and null or "" (zero).
type ltime struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *ltime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case 'n':
		t.Time = time.Time{}
		return nil
	case '"':
		s, ok := plainString(b)
		if !ok {
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
		}
		if strings.TrimSpace(s) == "" {
			t.Time = time.Time{}
			return nil
		}
		v, err := parseTime(s)
		if err != nil {
			return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(truncate(s, 40)), Type: reflect.TypeFor[time.Time]()}
		}
		t.Time = v
		return nil
	case '{', '[', 't', 'f':
		return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: reflect.TypeFor[time.Time]()}
	default:
		if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			if v, ok := unixInt(i); ok {
				t.Time = v
				return nil
			}
		} else if f, err := strconv.ParseFloat(string(b), 64); err == nil {
			if v, ok := unixTime(f); ok {
				t.Time = v
				return nil
			}
		}
		return &json.UnmarshalTypeError{Value: "number " + truncate(string(b), 40), Type: reflect.TypeFor[time.Time]()}
	}
}

// lint is an integer that also accepts a numeric string, a float (truncated)
// and null (zero).
type lint int

// UnmarshalJSON implements json.Unmarshaler.
func (n *lint) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == 'n' {
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxInt32 {
		return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: reflect.TypeFor[int]()}
	}
	*n = lint(f)
	return nil
}

// plainString returns the contents of a JSON string literal that needs no
// unescaping (no backslash, no control or non-ASCII byte), without allocating
// a decoder; encoding/json has already validated the literal.
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	for _, c := range b[1 : len(b)-1] {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(b[1 : len(b)-1]), true
}

func jsonKind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// structError turns an encoding/json error from decoding into a typed struct
// into a *DecodeError naming the field where it can.
func structError(err error) error {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		f := ute.Field
		if f == "" {
			f = "body"
		}
		return &DecodeError{Field: f, Msg: fmt.Sprintf("cannot use %s as %s", ute.Value, ute.Type)}
	}
	return jsonError(err)
}
