package audit

import (
	"encoding/json"
	"fmt"
	"maps"
	neturl "net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Redacted replaces every value a Redactor removes.
const Redacted = "[redacted]"

// DefaultSensitiveKeys are the key fragments whose values are redacted
// wherever they appear in a record's data (case-insensitive substring match,
// so "X-Auth-Token" and "client_secret" are caught).
var DefaultSensitiveKeys = []string{
	"token", "password", "passwd", "secret", "authorization", "api_key", "apikey",
	"api-key", "private_key", "cookie", "credential",
}

// DefaultSecretPatterns are regular expressions for secrets that are
// recognisable by their shape wherever they appear in a string.
var DefaultSecretPatterns = []string{
	`(?i)\bbearer\s+[a-z0-9._~+/=-]{8,}`,                                   // HTTP bearer credentials
	`\bxox[abposr]-[A-Za-z0-9-]{10,}`,                                      // Slack tokens
	`\bxapp-[A-Za-z0-9-]{10,}`,                                             // Slack app-level tokens
	`\bgh[pousr]_[A-Za-z0-9]{20,}`,                                         // GitHub tokens
	`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`,                                        // AWS access key ids
	`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`,         // JWTs
	`(?i)\b(?:password|passwd|token|secret|api_?key)=[^&\s"']+`,            // key=value in URLs and text
	`(?i)\bhooks\.slack\.com/(?:services|workflows|triggers)/[^\s"'<>?#]+`, // Slack incoming webhook paths
}

// DefaultSafeQueryKeys are the URL query parameters whose values are kept;
// every other query value in a URL found in a record is redacted, as is the
// URL's user-info (user:password@).
var DefaultSafeQueryKeys = []string{
	"alert", "alertname", "env", "environment", "format", "lang", "namespace",
	"page", "region", "service", "severity", "source", "status", "team", "type", "v", "version",
}

// RedactConfig configures a Redactor.
type RedactConfig struct {
	// Keys are extra key names whose values are always redacted (exact,
	// case-insensitive).
	Keys []string
	// Patterns are extra regular expressions; every match in any string of
	// a record is replaced.
	Patterns []string
	// SafeQueryKeys are extra URL query parameters whose values are kept
	// (exact, case-insensitive), in addition to DefaultSafeQueryKeys.
	SafeQueryKeys []string
	// NoDefaults drops DefaultSensitiveKeys, DefaultSecretPatterns and the
	// redaction of URL user-info and query values.
	NoDefaults bool
}

// Redactor removes secrets from audit records before they are written. It
// is safe for concurrent use.
type Redactor struct {
	exact     map[string]bool
	fragments []string
	patterns  []pattern
	urls      bool
	safeQuery map[string]bool
	// starts maps a byte to the prefilter literals that begin with it
	// (both cases for case-folded ones), so that one pass over a string
	// finds which prefiltered patterns can match it (scan).
	starts [256][]literal
	// exhaustive turns the shortcuts off (every pattern and the URL
	// rewrite run on every string): the tests' reference for what the
	// shortcuts must not change.
	exhaustive bool
}

// NewRedactor compiles cfg. A pattern that does not compile is an error
// naming it.
func NewRedactor(cfg RedactConfig) (*Redactor, error) {
	r := &Redactor{exact: map[string]bool{}, safeQuery: map[string]bool{}}
	pats := cfg.Patterns
	if !cfg.NoDefaults {
		r.fragments = DefaultSensitiveKeys
		pats = append(append([]string(nil), DefaultSecretPatterns...), cfg.Patterns...)
		r.urls = true
		for _, k := range DefaultSafeQueryKeys {
			r.safeQuery[k] = true
		}
	}
	for _, k := range cfg.SafeQueryKeys {
		r.safeQuery[strings.ToLower(k)] = true
	}
	for _, k := range cfg.Keys {
		r.exact[strings.ToLower(k)] = true
	}
	for _, p := range pats {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redaction pattern %q: %w", p, err)
		}
		r.patterns = append(r.patterns, pattern{re: re, need: defaultNeeds[p]})
	}
	if len(r.patterns) <= 64 {
		for i, p := range r.patterns {
			if p.need == nil {
				continue
			}
			for _, l := range p.need.literals {
				lit := literal{text: l, fold: p.need.fold, bit: 1 << i}
				c := l[0]
				r.starts[c] = append(r.starts[c], lit)
				if up := upperASCII(c); lit.fold && up != c {
					r.starts[up] = append(r.starts[up], lit)
				}
			}
		}
	}
	return r, nil
}

// literal is one prefilter literal of the pattern whose bit it carries.
type literal struct {
	text string
	fold bool
	bit  uint64
}

// upperASCII returns c upper-cased if it is an ASCII lower-case letter.
func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// scan returns, for an ASCII string s, the set (bit i for r.patterns[i])
// of prefiltered patterns one of whose literals s holds: what mayMatch
// tells pattern by pattern, in one pass over s.
func (r *Redactor) scan(s string) uint64 {
	var found uint64
	for i := 0; i < len(s); i++ {
		for _, l := range r.starts[s[i]] {
			if found&l.bit != 0 || len(s)-i < len(l.text) {
				continue
			}
			if l.fold {
				if hasPrefixFoldASCII(s[i:], l.text) {
					found |= l.bit
				}
			} else if s[i:i+len(l.text)] == l.text {
				found |= l.bit
			}
		}
	}
	return found
}

// hasPrefixFoldASCII reports whether s begins with lower (lower-case
// ASCII, no longer than s), ignoring ASCII case.
func hasPrefixFoldASCII(s, lower string) bool {
	for j := 0; j < len(lower); j++ {
		c := s[j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[j] {
			return false
		}
	}
	return true
}

// pattern is a compiled secret pattern with an optional prefilter.
type pattern struct {
	re *regexp.Regexp
	// need, when set, lists literals (lower-case if fold) one of which
	// every match contains; a string holding none of them cannot match,
	// so the regular expression is not run on it.
	need *needs
}

// needs is a prefilter: literals of which every match of a pattern holds
// at least one, compared ASCII-case-insensitively when fold is set.
type needs struct {
	fold     bool
	literals []string
}

// mayMatch reports whether s can hold a match. It is exact only for
// ASCII: a string with any other byte is always handed to the regular
// expression, since (?i) folds some non-ASCII runes (the Kelvin sign, the
// long s) onto ASCII letters.
func (n *needs) mayMatch(s string, ascii bool) bool {
	if n == nil || !ascii {
		return true
	}
	for _, l := range n.literals {
		if n.fold {
			if containsFoldASCII(s, l) {
				return true
			}
		} else if strings.Contains(s, l) {
			return true
		}
	}
	return false
}

// defaultNeeds are the prefilters of DefaultSecretPatterns, keyed by the
// pattern's text; each lists what every match of its pattern contains
// (TestDefaultNeedsHoldForEveryMatch checks them against the patterns).
var defaultNeeds = map[string]*needs{
	DefaultSecretPatterns[0]: {fold: true, literals: []string{"bearer"}},
	DefaultSecretPatterns[1]: {literals: []string{"xox"}},
	DefaultSecretPatterns[2]: {literals: []string{"xapp-"}},
	DefaultSecretPatterns[3]: {literals: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}},
	DefaultSecretPatterns[4]: {literals: []string{"AKIA", "ASIA"}},
	DefaultSecretPatterns[5]: {literals: []string{"eyJ"}},
	DefaultSecretPatterns[6]: {fold: true, literals: []string{"password=", "passwd=", "token=", "secret=", "apikey=", "api_key="}},
	DefaultSecretPatterns[7]: {fold: true, literals: []string{"hooks.slack.com/"}},
}

// containsFoldASCII reports whether s contains lower (lower-case ASCII),
// ignoring ASCII case.
func containsFoldASCII(s, lower string) bool {
	n := len(lower)
	if n == 0 {
		return true
	}
	c0 := lower[0]
	up := c0
	if 'a' <= c0 && c0 <= 'z' {
		up = c0 - 'a' + 'A'
	}
	for i := 0; i+n <= len(s); i++ {
		if c := s[i]; c != c0 && c != up {
			continue
		}
		j := 1
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// isASCII reports whether s holds only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Record returns rec with secrets removed: values of sensitive keys
// anywhere in Data are replaced by Redacted, and pattern matches in the
// message, actor, target and every string in Data are replaced. The input's
// maps are not modified: a map or slice that holds a secret is copied, one
// that holds none is shared with the result.
func (r *Redactor) Record(rec Record) Record {
	rec.Message = r.String(rec.Message)
	rec.Target = r.String(rec.Target)
	rec.Actor = r.String(rec.Actor)
	if rec.Data != nil {
		rec.Data, _ = r.value(rec.Data).(map[string]any)
	}
	return rec
}

// String replaces every secret pattern match in s, and in every URL in s
// the user-info and each query value not on the safe list.
func (r *Redactor) String(s string) string {
	// url changes a URL only at its user-info (@), query (?) or fragment
	// (#): text with none of them keeps every URL it holds as it is.
	if r.urls && strings.Contains(s, "://") && (r.exhaustive || strings.ContainsAny(s, "@?#")) {
		s = urlRE.ReplaceAllStringFunc(s, r.url)
	}
	// One pass finds the prefiltered patterns s can match. The set stays
	// valid after a replacement: Redacted holds no literal and no literal
	// holds a bracket, so a replacement can only remove literals, never
	// make one, and a pattern in the set that no longer matches is left
	// to its regular expression to decide.
	fast := !r.exhaustive && isASCII(s)
	var may uint64
	if fast && len(r.patterns) <= 64 {
		may = r.scan(s)
	}
	for i, p := range r.patterns {
		if fast && p.need != nil {
			if len(r.patterns) > 64 {
				if !p.need.mayMatch(s, true) {
					continue
				}
			} else if may&(1<<i) == 0 {
				continue
			}
		}
		if p.re.MatchString(s) {
			s = p.re.ReplaceAllString(s, Redacted)
		}
	}
	return s
}

// SensitiveKey reports whether a value stored under key is redacted.
func (r *Redactor) SensitiveKey(key string) bool {
	k := strings.ToLower(key)
	if r.exact[k] {
		return true
	}
	for _, f := range r.fragments {
		if strings.Contains(k, f) {
			return true
		}
	}
	return false
}

// value returns v with its secrets removed. Maps and slices in which
// nothing changes are returned as they are, not copied (most records hold
// no secret); one that changes is copied, so v itself is never modified.
func (r *Redactor) value(v any) any {
	out, _ := r.redactValue(v)
	return out
}

// redactString is String that also reports whether anything changed.
func (r *Redactor) redactString(s string) (string, bool) {
	n := r.String(s)
	return n, n != s
}

// redactMap redacts each value of m with f, or replaces it by redacted
// under a sensitive key, copying m only when something changes. A nil map
// comes back empty, so that it is encoded {} as before, not null.
func redactMap[V any](r *Redactor, m map[string]V, redacted V, f func(V) (V, bool)) (any, bool) {
	if m == nil {
		return map[string]V{}, true
	}
	var out map[string]V
	for k, e := range m {
		n, changed := redacted, true
		if !r.SensitiveKey(k) {
			n, changed = f(e)
		}
		if !changed {
			continue
		}
		if out == nil {
			out = maps.Clone(m)
		}
		out[k] = n
	}
	if out == nil {
		return m, false
	}
	return out, true
}

// redactSlice redacts each element of s with f, copying s only when
// something changes. A nil slice comes back empty, encoded [] as before.
func redactSlice[V any](s []V, f func(V) (V, bool)) (any, bool) {
	if s == nil {
		return []V{}, true
	}
	var out []V
	for i, e := range s {
		n, changed := f(e)
		if !changed {
			continue
		}
		if out == nil {
			out = slices.Clone(s)
		}
		out[i] = n
	}
	if out == nil {
		return s, false
	}
	return out, true
}

// redactValue is value that also reports whether anything changed.
func (r *Redactor) redactValue(v any) (any, bool) {
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, time.Time, json.Number:
		return v, false
	case string:
		return r.redactString(x)
	case map[string]any:
		return redactMap(r, x, any(Redacted), r.redactValue)
	case map[string]string:
		return redactMap(r, x, Redacted, r.redactString)
	case []any:
		return redactSlice(x, r.redactValue)
	case []string:
		return redactSlice(x, r.redactString)
	}
	// Anything else (a struct an action returned, a typed map) is redacted
	// in its JSON form, which is what would be written. A raw JSON value
	// (an action's body) already is that form: decoding it gives what
	// decoding its encoding would.
	if raw, ok := v.(json.RawMessage); ok && len(raw) > 0 {
		var generic any
		if err := json.Unmarshal(raw, &generic); err != nil {
			return v, false
		}
		out, _ := r.redactValue(generic)
		return out, true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v, false
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return v, false
	}
	out, _ := r.redactValue(generic)
	return out, true
}

// urlRE finds absolute URLs in text.
var urlRE = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+`)

// url redacts one URL's user-info, query values (except safe keys) and a
// fragment that looks like parameters (#access_token=…). It edits the text
// in place rather than re-encoding it, so what is kept reads as written.
func (r *Redactor) url(u string) string {
	i := strings.Index(u, "://") + 3
	rest := u[i:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		rest = Redacted + rest[at:]
	}
	var frag string
	if h := strings.IndexByte(rest, '#'); h >= 0 {
		rest, frag = rest[:h], rest[h:]
		if strings.Contains(frag, "=") {
			frag = "#" + Redacted
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 && q+1 < len(rest) {
		pairs := strings.Split(rest[q+1:], "&")
		for j, p := range pairs {
			k, _, hasValue := strings.Cut(p, "=")
			if p == "" || p == Redacted {
				continue
			}
			if !hasValue {
				pairs[j] = Redacted
				continue
			}
			name, err := neturl.QueryUnescape(k)
			if err != nil {
				name = k
			}
			if !r.safeQuery[strings.ToLower(name)] {
				pairs[j] = k + "=" + Redacted
			}
		}
		rest = rest[:q+1] + strings.Join(pairs, "&")
	}
	return u[:i] + rest + frag
}
