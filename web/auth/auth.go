package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/internal/cidr"
)

// Types of authentication.
const (
	TypeBearer           = "bearer"
	TypeBasic            = "basic"
	TypeHMAC             = "hmac"
	TypeGrafana          = "grafana"
	TypeStandardWebhooks = "standard-webhooks"
	TypeURLToken         = "url-token"
	TypeNone             = "none"
	// TypeMTLS is in mtls.go.
)

// Defaults.
const (
	// DefaultTolerance is how far a signed timestamp may be from now.
	DefaultTolerance = 5 * time.Minute
	// DefaultReplayCacheSize bounds the signatures remembered for replay
	// refusal; past it the oldest are forgotten first.
	DefaultReplayCacheSize = 100_000
	// DefaultHMACHeader carries the GitHub-style signature.
	DefaultHMACHeader = "X-Hub-Signature-256"
	// DefaultGrafanaHeader carries Grafana's signature.
	DefaultGrafanaHeader = "X-Grafana-Alerting-Signature"
	// DefaultGrafanaTimestampHeader carries the timestamp Grafana signs when
	// its contact point names a timestamp header (Grafana has no default
	// name; this is the one its provisioning docs use).
	DefaultGrafanaTimestampHeader = "X-Grafana-Alerting-Signature-Timestamp"
	// DefaultTokenParam names the path value (or query parameter) that
	// carries a url-token.
	DefaultTokenParam = "token"
)

// Config is one source's authentication, as written in the config file:
//
//	auth:
//	  type: bearer            # bearer|basic|hmac|grafana|standard-webhooks|url-token|none
//	  token_env: AM_TOKEN     # or token: … (literal) or token_file: /run/secrets/am
//	  allow_cidrs: [10.0.0.0/8]
//
// Each secret (token, username, password, secret) is given exactly once in
// the file: as a literal, as the name of an environment variable (*_env) or
// as a file path (*_file). The config loader (cmd/firebreak/config) resolves
// the *_env and *_file spellings into the literal fields before it calls
// New, which takes literals only. bearer and url-token need token;
// basic needs username and password; hmac, grafana and standard-webhooks need
// secret (for standard-webhooks base64, optionally whsec_-prefixed). none
// needs insecure: true.
//
// For rotation, tokens (bearer, url-token), passwords (basic) and secrets
// (hmac, grafana, standard-webhooks) are lists of further values, each list
// in the same three spellings (tokens, tokens_env, tokens_file): every value
// given, the singular one and the lists', is accepted at once.
type Config struct {
	Type string `yaml:"type" json:"type"`

	Token        string `yaml:"token" json:"-"`
	TokenEnv     string `yaml:"token_env" json:"token_env,omitempty"`
	TokenFile    string `yaml:"token_file" json:"token_file,omitempty"`
	Username     string `yaml:"username" json:"-"`
	UsernameEnv  string `yaml:"username_env" json:"username_env,omitempty"`
	UsernameFile string `yaml:"username_file" json:"username_file,omitempty"`
	Password     string `yaml:"password" json:"-"`
	PasswordEnv  string `yaml:"password_env" json:"password_env,omitempty"`
	PasswordFile string `yaml:"password_file" json:"password_file,omitempty"`
	Secret       string `yaml:"secret" json:"-"`
	SecretEnv    string `yaml:"secret_env" json:"secret_env,omitempty"`
	SecretFile   string `yaml:"secret_file" json:"secret_file,omitempty"`

	// Tokens, Passwords and Secrets are further accepted values, for
	// rotation; see the type's doc.
	Tokens        []string `yaml:"tokens" json:"-"`
	TokensEnv     []string `yaml:"tokens_env" json:"tokens_env,omitempty"`
	TokensFile    []string `yaml:"tokens_file" json:"tokens_file,omitempty"`
	Passwords     []string `yaml:"passwords" json:"-"`
	PasswordsEnv  []string `yaml:"passwords_env" json:"passwords_env,omitempty"`
	PasswordsFile []string `yaml:"passwords_file" json:"passwords_file,omitempty"`
	Secrets       []string `yaml:"secrets" json:"-"`
	SecretsEnv    []string `yaml:"secrets_env" json:"secrets_env,omitempty"`
	SecretsFile   []string `yaml:"secrets_file" json:"secrets_file,omitempty"`

	// Header overrides the signature header of hmac and grafana.
	Header string `yaml:"header" json:"header,omitempty"`
	// TimestampHeader overrides grafana's timestamp header.
	TimestampHeader string `yaml:"timestamp_header" json:"timestamp_header,omitempty"`
	// RequireTimestamp makes grafana refuse requests without the timestamp
	// header, so every accepted request is replay-protected.
	RequireTimestamp bool `yaml:"require_timestamp" json:"require_timestamp,omitempty"`
	// Tolerance is how far a signed timestamp may be from now (grafana,
	// standard-webhooks); 5m when zero.
	Tolerance time.Duration `yaml:"tolerance" json:"tolerance,omitempty"`
	// ReplayCacheSize bounds the replay cache; DefaultReplayCacheSize when 0.
	ReplayCacheSize int `yaml:"replay_cache_size" json:"replay_cache_size,omitempty"`
	// TokenParam names the url-token path value or query parameter; "token"
	// when empty.
	TokenParam string `yaml:"token_param" json:"token_param,omitempty"`

	// AllowCIDRs, when set, admits only remote addresses inside one of these
	// ranges (a bare address is a /32 or /128), whatever the type.
	AllowCIDRs []string `yaml:"allow_cidrs" json:"allow_cidrs,omitempty"`
	// Insecure must be true for type none.
	Insecure bool `yaml:"insecure" json:"insecure,omitempty"`

	// CAFile, AllowSubjects and AllowDNSSANs are type mtls's (MTLSConfig).
	CAFile        string   `yaml:"ca_file" json:"ca_file,omitempty"`
	AllowSubjects []string `yaml:"allow_subjects" json:"allow_subjects,omitempty"`
	AllowDNSSANs  []string `yaml:"allow_dns_sans" json:"allow_dns_sans,omitempty"`
	// MTLS adds a client-certificate check to another type: both must
	// pass (bearer and mtls, say).
	MTLS *MTLSConfig `yaml:"mtls" json:"mtls,omitempty"`
}

// String describes the config without its secrets.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("auth{type=" + c.Type)
	for _, s := range c.secretSpecs() {
		if d := s.describe(); d != "" {
			b.WriteString(" " + s.name + "=" + d)
		}
	}
	for _, l := range c.secretLists() {
		if n := l.count(); n > 0 {
			fmt.Fprintf(&b, " %s=%d more", l.name, n)
		}
	}
	if len(c.AllowCIDRs) > 0 {
		b.WriteString(" allow_cidrs=" + strings.Join(c.AllowCIDRs, ","))
	}
	if c.Insecure {
		b.WriteString(" insecure")
	}
	b.WriteString("}")
	return b.String()
}

// LogValue implements slog.LogValuer, so logging a Config never prints a
// secret.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Authenticator checks one request of one source.
type Authenticator interface {
	// Authenticate checks r, whose body the caller has already read into
	// body, at time now. It returns nil or an error wrapping one of
	// ErrMissingCredentials, ErrBadCredentials, ErrReplayed, ErrExpired or
	// ErrForbiddenAddress. It is safe for concurrent use.
	Authenticate(r *http.Request, body []byte, now time.Time) error
}

// Releaser is implemented by the Authenticators that refuse replays
// (grafana with a timestamp, standard-webhooks). When a request passed
// Authenticate but could not be processed (the server answers 5xx and the
// sender will retry the identical request), Release forgets it, so the retry
// is not refused as a replay.
type Releaser interface {
	Release(r *http.Request)
}

// New validates cfg and returns the Authenticator. It takes secrets as
// literals only: the config loader (cmd/firebreak/config) is the one
// resolver of *_env and *_file, and a cfg with any of them set is refused
// with ErrUnresolvedSecret, so no second code path reads the environment or
// a file. Every problem is reported at once; the errors wrap ErrConfig and
// never contain a secret.
func New(cfg Config) (Authenticator, error) {
	if errs := cfg.unresolved(); len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	needs := map[string]bool{}
	known := true
	switch cfg.Type {
	case TypeBearer, TypeURLToken:
		needs["token"] = true
	case TypeBasic:
		needs["username"], needs["password"] = true, true
	case TypeHMAC, TypeGrafana, TypeStandardWebhooks:
		needs["secret"] = true
	case TypeNone:
		if !cfg.Insecure {
			bad("type none requires insecure: true")
		}
	case TypeMTLS:
	case "":
		known = false
		bad("type is required (bearer, basic, hmac, grafana, standard-webhooks, url-token, mtls or none)")
	default:
		known = false
		bad("type %q is unknown (want bearer, basic, hmac, grafana, standard-webhooks, url-token, mtls or none)", cfg.Type)
	}
	var mt *mtlsCheck
	switch {
	case cfg.Type == TypeMTLS:
		if cfg.MTLS != nil {
			bad("mtls: not used by type mtls (give ca_file, allow_subjects and allow_dns_sans directly)")
		}
		m, merrs := newMTLS(MTLSConfig{CAFile: cfg.CAFile, AllowSubjects: cfg.AllowSubjects, AllowDNSSANs: cfg.AllowDNSSANs}, "")
		errs = append(errs, merrs...)
		mt = m
	case cfg.CAFile != "" || len(cfg.AllowSubjects) > 0 || len(cfg.AllowDNSSANs) > 0:
		if known {
			bad("ca_file: not used by type %s (put ca_file, allow_subjects and allow_dns_sans under mtls:)", cfg.Type)
		}
	case cfg.MTLS != nil:
		if cfg.Type == TypeNone {
			bad("mtls: type none checks nothing; use type mtls")
			break
		}
		m, merrs := newMTLS(*cfg.MTLS, "mtls.")
		errs = append(errs, merrs...)
		mt = m
	}
	vals := map[string]string{}
	for _, s := range cfg.secretSpecs() {
		switch {
		case s.literal == "" && s.env == "" && s.file == "":
			if needs[s.name] {
				msg := fmt.Sprintf("%s: required by type %s (give %s, %s_env or %s_file)", s.name, cfg.Type, s.name, s.name, s.name)
				errs = append(errs, &requiredError{name: s.name, msg: msg})
			}
		case s.literal == "":
			// An unresolved spelling, reported above.
		case !needs[s.name] && known:
			bad("%s: not used by type %s", s.name, cfg.Type)
		default:
			vals[s.name] = s.literal
		}
	}
	// The lists add values to a secret the type uses; they may stand in
	// for the singular key.
	more := map[string][]string{}
	for _, l := range cfg.secretLists() {
		if l.count() == 0 {
			continue
		}
		if !needs[l.of] {
			if known {
				bad("%s: not used by type %s", l.name, cfg.Type)
			}
			continue
		}
		vs, lerrs := l.literalValues()
		errs = append(errs, lerrs...)
		more[l.of] = vs
	}
	for name := range needs {
		if _, ok := vals[name]; !ok && len(more[name]) > 0 {
			// The lists satisfied a requirement reported above as missing.
			errs = dropRequired(errs, name)
		}
	}
	if cfg.Tolerance < 0 {
		bad("tolerance: must not be negative")
	}
	if cfg.ReplayCacheSize < 0 {
		bad("replay_cache_size: must not be negative")
	}
	cidrs := make([]netip.Prefix, 0, len(cfg.AllowCIDRs))
	for i, c := range cfg.AllowCIDRs {
		p, err := cidr.Parse(c)
		if err != nil {
			bad("allow_cidrs[%d]: %q is not a CIDR range or address", i, c)
			continue
		}
		cidrs = append(cidrs, p)
	}
	tokens := values(vals["token"], more["token"])
	passwords := values(vals["password"], more["password"])
	secrets := values(vals["secret"], more["secret"])
	var whKeys [][]byte
	if cfg.Type == TypeStandardWebhooks {
		for _, sec := range secrets {
			k, err := standardWebhooksKey(sec)
			if err != nil {
				errs = append(errs, err)
			}
			whKeys = append(whKeys, k)
		}
	}
	keys := make([][]byte, len(secrets))
	for i, sec := range secrets {
		keys[i] = []byte(sec)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}

	tol := cfg.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	size := cfg.ReplayCacheSize
	if size == 0 {
		size = DefaultReplayCacheSize
	}
	a := &authenticator{cidrs: cidrs, mtls: mt}
	switch cfg.Type {
	case TypeBearer:
		a.check = bearer{tokens: tokens}.check
	case TypeBasic:
		a.check = basic{user: vals["username"], passes: passwords}.check
	case TypeHMAC:
		a.check = hubHMAC{keys: keys, header: orDefault(cfg.Header, DefaultHMACHeader)}.check
	case TypeGrafana:
		g := &grafana{
			keys:      keys,
			header:    orDefault(cfg.Header, DefaultGrafanaHeader),
			tsHeader:  orDefault(cfg.TimestampHeader, DefaultGrafanaTimestampHeader),
			requireTS: cfg.RequireTimestamp,
			tolerance: tol,
			seen:      newReplayCache(size),
		}
		a.check = g.check
		a.release = func(r *http.Request) { g.seen.forget(g.replayKey(r)) }
	case TypeStandardWebhooks:
		sw := &standardWebhooks{keys: whKeys, tolerance: tol, seen: newReplayCache(size)}
		a.check = sw.check
		a.release = func(r *http.Request) { sw.seen.forget(sw.replayKey(r)) }
	case TypeURLToken:
		a.check = urlToken{tokens: tokens, param: orDefault(cfg.TokenParam, DefaultTokenParam)}.check
	case TypeNone, TypeMTLS:
		a.check = func(*http.Request, []byte, time.Time) error { return nil }
	}
	return a, nil
}

// authenticator checks the remote address, then the mode's credentials.
type authenticator struct {
	cidrs []netip.Prefix
	// mtls checks the client certificate; nil without one.
	mtls  *mtlsCheck
	check func(r *http.Request, body []byte, now time.Time) error
	// release forgets r's replay key; nil for modes without replay refusal.
	release func(r *http.Request)
}

// Release implements Releaser; it does nothing for modes without replay
// refusal.
func (a *authenticator) Release(r *http.Request) {
	if a.release != nil {
		a.release(r)
	}
}

// Authenticate implements Authenticator.
func (a *authenticator) Authenticate(r *http.Request, body []byte, now time.Time) error {
	if len(a.cidrs) > 0 {
		ip, ok := remoteIP(r)
		if !ok {
			return fmt.Errorf("%w: remote address unknown", ErrForbiddenAddress)
		}
		allowed := false
		for _, p := range a.cidrs {
			if p.Contains(ip) {
				allowed = true
				break
			}
		}
		if !allowed {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, ip)
		}
	}
	if a.mtls != nil {
		if err := a.mtls.check(r); err != nil {
			return err
		}
	}
	return a.check(r, body, now)
}

// remoteIP reads r.RemoteAddr ("ip:port" or a bare address). Behind a
// reverse proxy the server must set RemoteAddr to the client's address
// before calling Authenticate.
func remoteIP(r *http.Request) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// equal compares two secrets in constant time, whatever their lengths, by
// comparing their SHA-256 digests.
func equal(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// equalAny reports whether got equals one of wants, comparing with every
// one (no early exit), so timing does not tell which matched.
func equalAny(got string, wants []string) bool {
	ok := false
	for _, w := range wants {
		if equal(got, w) {
			ok = true
		}
	}
	return ok
}

// hmacMatchAny reports whether sig is the HMAC of parts under one of keys,
// computing every one.
func hmacMatchAny(sig []byte, keys [][]byte, parts ...[]byte) bool {
	ok := false
	for _, k := range keys {
		if hmac.Equal(sig, hmacSHA256(k, parts...)) {
			ok = true
		}
	}
	return ok
}

// values is the singular value (when set) followed by the list's.
func values(one string, more []string) []string {
	var out []string
	if one != "" {
		out = append(out, one)
	}
	return append(out, more...)
}

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

type bearer struct{ tokens []string }

func (b bearer) check(r *http.Request, _ []byte, _ time.Time) error {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return fmt.Errorf("%w: no Authorization header", ErrMissingCredentials)
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return fmt.Errorf("%w: Authorization is not a Bearer token", ErrBadCredentials)
	}
	if !equalAny(strings.TrimSpace(tok), b.tokens) {
		return fmt.Errorf("%w: wrong bearer token", ErrBadCredentials)
	}
	return nil
}

type basic struct {
	user   string
	passes []string
}

func (b basic) check(r *http.Request, _ []byte, _ time.Time) error {
	if r.Header.Get("Authorization") == "" {
		return fmt.Errorf("%w: no Authorization header", ErrMissingCredentials)
	}
	u, p, ok := r.BasicAuth()
	if !ok {
		return fmt.Errorf("%w: Authorization is not Basic credentials", ErrBadCredentials)
	}
	// Both comparisons always run, so timing does not tell which was wrong.
	uok, pok := equal(u, b.user), equalAny(p, b.passes)
	if !uok || !pok {
		return fmt.Errorf("%w: wrong username or password", ErrBadCredentials)
	}
	return nil
}

type hubHMAC struct {
	keys   [][]byte
	header string
}

func (h hubHMAC) check(r *http.Request, body []byte, _ time.Time) error {
	v := strings.TrimSpace(r.Header.Get(h.header))
	if v == "" {
		return fmt.Errorf("%w: no %s header", ErrMissingCredentials, h.header)
	}
	hexSig, ok := strings.CutPrefix(v, "sha256=")
	if !ok {
		return fmt.Errorf("%w: %s must be sha256=<hex>", ErrBadCredentials, h.header)
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrBadCredentials, h.header)
	}
	if !hmacMatchAny(sig, h.keys, body) {
		return fmt.Errorf("%w: signature mismatch", ErrBadCredentials)
	}
	return nil
}

type grafana struct {
	keys             [][]byte
	header, tsHeader string
	requireTS        bool
	tolerance        time.Duration
	seen             *replayCache
}

func (g *grafana) check(r *http.Request, body []byte, now time.Time) error {
	v := strings.TrimSpace(r.Header.Get(g.header))
	if v == "" {
		return fmt.Errorf("%w: no %s header", ErrMissingCredentials, g.header)
	}
	sig, err := hex.DecodeString(v)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrBadCredentials, g.header)
	}
	tsText := strings.TrimSpace(r.Header.Get(g.tsHeader))
	if tsText == "" {
		if g.requireTS {
			return fmt.Errorf("%w: no %s header", ErrMissingCredentials, g.tsHeader)
		}
		if !hmacMatchAny(sig, g.keys, body) {
			return fmt.Errorf("%w: signature mismatch", ErrBadCredentials)
		}
		return nil
	}
	if !hmacMatchAny(sig, g.keys, []byte(tsText), []byte(":"), body) {
		return fmt.Errorf("%w: signature mismatch", ErrBadCredentials)
	}
	ts, err := parseUnix(tsText)
	if err != nil {
		return fmt.Errorf("%w: %s is not a Unix time", ErrBadCredentials, g.tsHeader)
	}
	if err := within(ts, now, g.tolerance); err != nil {
		return err
	}
	if g.seen.seen(grafanaReplayKey(ts, sig), ts.Add(g.tolerance), now) {
		return fmt.Errorf("%w: same signature and timestamp seen before", ErrReplayed)
	}
	return nil
}

// grafanaReplayKey is the signed time with the signature's bytes: keyed on
// the decoded bytes, the same signature re-cased (hex is case-insensitive)
// is the same key.
func grafanaReplayKey(ts time.Time, sig []byte) string {
	return strconv.FormatInt(ts.Unix(), 10) + ":" + string(sig)
}

// replayKey is the key check stored for r, or "" when r has none.
func (g *grafana) replayKey(r *http.Request) string {
	sig, err := hex.DecodeString(strings.TrimSpace(r.Header.Get(g.header)))
	if err != nil {
		return ""
	}
	ts, err := parseUnix(r.Header.Get(g.tsHeader))
	if err != nil {
		return ""
	}
	return grafanaReplayKey(ts, sig)
}

type standardWebhooks struct {
	keys      [][]byte
	tolerance time.Duration
	seen      *replayCache
}

func (s *standardWebhooks) check(r *http.Request, body []byte, now time.Time) error {
	id := r.Header.Get("webhook-id")
	tsText := r.Header.Get("webhook-timestamp")
	sigs := r.Header.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		var missing []string
		for _, h := range [][2]string{{"webhook-id", id}, {"webhook-timestamp", tsText}, {"webhook-signature", sigs}} {
			if h[1] == "" {
				missing = append(missing, h[0])
			}
		}
		return fmt.Errorf("%w: no %s header", ErrMissingCredentials, strings.Join(missing, ", "))
	}
	// Any v1 signature of the header that verifies under any configured
	// key is enough: during a rotation the sender signs with both.
	match := false
	for _, part := range strings.Fields(sigs) {
		ver, b64, ok := strings.Cut(part, ",")
		if !ok || ver != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		if hmacMatchAny(got, s.keys, []byte(id), []byte("."), []byte(tsText), []byte("."), body) {
			match = true
		}
	}
	if !match {
		return fmt.Errorf("%w: no v1 signature matches", ErrBadCredentials)
	}
	ts, err := parseUnix(tsText)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not a Unix time", ErrBadCredentials)
	}
	if err := within(ts, now, s.tolerance); err != nil {
		return err
	}
	// The key is the message id with its signed timestamp: a captured
	// request replayed as is is refused, while the sender's own retry of a
	// failed delivery, re-signed with a new timestamp, is let through (the
	// event id then absorbs the duplicate).
	if s.seen.seen(s.replayKey(r), ts.Add(s.tolerance), now) {
		return fmt.Errorf("%w: webhook-id %q with this timestamp seen before", ErrReplayed, truncate(id, 64))
	}
	return nil
}

// replayKey is the message id with its signed timestamp.
func (s *standardWebhooks) replayKey(r *http.Request) string {
	return r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp")
}

// standardWebhooksKey decodes a Standard Webhooks secret: base64, with an
// optional whsec_ prefix.
func standardWebhooksKey(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), "whsec_")
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("secret: a standard-webhooks secret must be base64, optionally prefixed whsec_")
	}
	if len(k) == 0 {
		return nil, errors.New("secret: decodes to an empty key")
	}
	return k, nil
}

type urlToken struct {
	tokens []string
	param  string
}

// pathTokenValue is the path value SetPathToken sets. Its name cannot be a
// ServeMux wildcard, so it never collides with a pattern's own values.
const pathTokenValue = "firebreak:url-token"

// SetPathToken hands a URL token taken from the request path to the
// url-token authenticator. Routers whose patterns do not name the segment
// (gin's /hooks/:source/:sub) call it before Authenticate; a ServeMux
// pattern with a {token} wildcard (or whatever token_param names) needs
// nothing.
func SetPathToken(r *http.Request, token string) {
	r.SetPathValue(pathTokenValue, token)
}

// check takes the token from the path (SetPathToken, else the path value
// named param), else from the query parameter named param.
func (u urlToken) check(r *http.Request, _ []byte, _ time.Time) error {
	tok := r.PathValue(pathTokenValue)
	if tok == "" {
		tok = r.PathValue(u.param)
	}
	if tok == "" && r.URL != nil {
		tok = r.URL.Query().Get(u.param)
	}
	if tok == "" {
		return fmt.Errorf("%w: no %s in the URL", ErrMissingCredentials, u.param)
	}
	if !equalAny(tok, u.tokens) {
		return fmt.Errorf("%w: wrong URL token", ErrBadCredentials)
	}
	return nil
}

func parseUnix(s string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > 1<<40 {
		return time.Time{}, errors.New("not a Unix time")
	}
	return time.Unix(n, 0), nil
}

func within(ts, now time.Time, tol time.Duration) error {
	d := now.Sub(ts)
	if d > tol {
		return fmt.Errorf("%w: signed %s ago", ErrExpired, d.Truncate(time.Second))
	}
	if d < -tol {
		return fmt.Errorf("%w: signed %s in the future", ErrExpired, (-d).Truncate(time.Second))
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// secretSpec is one secret of a Config in its three spellings. New uses
// only the literal: the config loader has resolved *_env and *_file.
type secretSpec struct {
	name               string
	literal, env, file string
}

func (c Config) secretSpecs() []secretSpec {
	return []secretSpec{
		{name: "token", literal: c.Token, env: c.TokenEnv, file: c.TokenFile},
		{name: "username", literal: c.Username, env: c.UsernameEnv, file: c.UsernameFile},
		{name: "password", literal: c.Password, env: c.PasswordEnv, file: c.PasswordFile},
		{name: "secret", literal: c.Secret, env: c.SecretEnv, file: c.SecretFile},
	}
}

func (s secretSpec) describe() string {
	switch {
	case s.literal != "":
		return "<redacted>"
	case s.env != "":
		return "$" + s.env
	case s.file != "":
		return "file:" + s.file
	default:
		return ""
	}
}

// secretList is one list of further values of a secret (tokens, passwords,
// secrets) in its three spellings; New uses only the literals.
type secretList struct {
	// name is the list's key; of is the singular secret it adds to.
	name, of              string
	literals, envs, files []string
}

func (c Config) secretLists() []secretList {
	return []secretList{
		{name: "tokens", of: "token", literals: c.Tokens, envs: c.TokensEnv, files: c.TokensFile},
		{name: "passwords", of: "password", literals: c.Passwords, envs: c.PasswordsEnv, files: c.PasswordsFile},
		{name: "secrets", of: "secret", literals: c.Secrets, envs: c.SecretsEnv, files: c.SecretsFile},
	}
}

func (l secretList) count() int { return len(l.literals) + len(l.envs) + len(l.files) }

// literalValues returns the list's values, trimmed; each empty element is a
// problem naming it.
func (l secretList) literalValues() ([]string, []error) {
	var out []string
	var errs []error
	for i, v := range l.literals {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s[%d]: must not be empty", l.name, i))
			continue
		}
		out = append(out, strings.TrimSpace(v))
	}
	return out, errs
}

// unresolved reports every *_env and *_file spelling set in c: New takes
// only values the config loader has already read, so that no second code
// path reads the environment or a file.
func (c Config) unresolved() []error {
	var errs []error
	for _, s := range c.secretSpecs() {
		if s.env != "" {
			errs = append(errs, fmt.Errorf("%s_env: %w; give the value read as %s", s.name, ErrUnresolvedSecret, s.name))
		}
		if s.file != "" {
			errs = append(errs, fmt.Errorf("%s_file: %w; give the value read as %s", s.name, ErrUnresolvedSecret, s.name))
		}
	}
	for _, l := range c.secretLists() {
		if len(l.envs) > 0 {
			errs = append(errs, fmt.Errorf("%s_env: %w; give the values read in %s", l.name, ErrUnresolvedSecret, l.name))
		}
		if len(l.files) > 0 {
			errs = append(errs, fmt.Errorf("%s_file: %w; give the values read in %s", l.name, ErrUnresolvedSecret, l.name))
		}
	}
	return errs
}

// requiredError is New's "required by type" problem of one secret.
type requiredError struct{ name, msg string }

func (e *requiredError) Error() string { return e.msg }

// dropRequired removes the "required" problem of the secret name.
func dropRequired(errs []error, name string) []error {
	out := errs[:0]
	for _, e := range errs {
		var re *requiredError
		if errors.As(e, &re) && re.name == name {
			continue
		}
		out = append(out, e)
	}
	return out
}
