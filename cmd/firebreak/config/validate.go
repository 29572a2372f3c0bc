package config

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/firewall"
	"github.com/firebreak/firebreak/actions/outbound"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store/anchor"
	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/auth"
	"github.com/firebreak/firebreak/web/sources"
)

// Catalog is what validation needs of the action registry: guards.bounds
// and guards.notify name actions.
type Catalog interface {
	Get(id string) (actions.Action, error)
}

// Resolved is a validated configuration's values as the app wires them:
// secrets read, receivers and the breaker notifier built, rates parsed.
type Resolved struct {
	// Sources are the receivers by route key (NAME, or generic/NAME).
	Sources map[string]web.Source
	// DefaultSources is set when no sources: section exists and every
	// built-in source accepts unauthenticated requests (loopback only).
	DefaultSources bool
	// InsecureSources are the configured sources without authentication.
	InsecureSources []string
	// SlackToken is actions.slack's bot token ("" for dry-run).
	SlackToken string
	// MaxActions and MaxTargets are guards.max_actions and max_targets.
	MaxActions, MaxTargets guard.Rate
	// Bounds are guards.bounds.
	Bounds map[string]map[string]guard.Bound
	// SigningSecret and BotToken are the approvals secrets.
	SigningSecret, BotToken string
	// Tokens are api.tokens, resolved.
	Tokens []web.APIToken
	// Redactor is the audit redactor.
	Redactor *audit.Redactor
	// AuditKey signs checkpoints of the audit chain (audit.signing_key_file);
	// nil signs none.
	AuditKey ed25519.PrivateKey
	// MaxEventAge is max_event_age (0 disables staleness).
	MaxEventAge time.Duration
	// HoldPaused is guards.on_pause: hold.
	HoldPaused bool
	// ClientCAs are the CAs of every mtls source: the listener requests a
	// client certificate and verifies it against them when given.
	ClientCAs []*x509.Certificate
	// OutboundTLS is actions.http.tls built; nil when unset.
	OutboundTLS *tls.Config
	// TLSMinVersion is tls.min_version as a crypto/tls constant; 0 when
	// the listener is plain HTTP.
	TLSMinVersion uint16
	// Etcd is store.etcd checked, its password resolved; nil in
	// single-node mode.
	Etcd *Etcd
	// Node is cluster.node, or the hostname when unset; "" in single-node
	// mode.
	Node string
}

// Etcd is store.etcd validated: the endpoints are http(s) URLs with a
// host, the TLS files load, and the password is resolved (never logged).
type Etcd struct {
	Endpoints                 []string
	Prefix                    string
	CAFile, CertFile, KeyFile string
	Username, Password        string
}

// Redacted returns e without its password, for logs.
func (e Etcd) Redacted() Etcd {
	if e.Password != "" {
		e.Password = "[redacted]"
	}
	return e
}

// Load reads, decodes and validates the configuration file at path, and
// returns every problem at once as Problems. cat may be nil, which skips
// the checks of action names and parameters.
func Load(path string, cat Catalog) (Config, *Resolved, error) {
	cfg, err := LoadFile(path)
	var ps Problems
	if err != nil && !errors.As(err, &ps) {
		return cfg, nil, err
	}
	res, verr := Validate(cfg, cat)
	var vps Problems
	if verr != nil {
		errors.As(verr, &vps)
	}
	// A value that did not decode is reported once, not again as invalid.
	all := ps
	for _, vp := range vps {
		dup := false
		for _, p := range ps {
			if p.Path != "" && (vp.Path == p.Path || strings.HasPrefix(vp.Path, p.Path+".") || strings.HasPrefix(vp.Path, p.Path+"[")) {
				dup = true
				break
			}
		}
		if !dup {
			all = append(all, vp)
		}
	}
	if len(all) > 0 {
		return cfg, nil, sorted(all)
	}
	return cfg, res, nil
}

// Validate checks every section of cfg and resolves its secrets; it
// returns Problems listing everything wrong. It has no side effects beyond
// reading the environment and the secret files. cat may be nil, which skips
// the checks of action names and parameters.
func Validate(cfg Config, cat Catalog) (*Resolved, error) {
	v := &validator{cfg: cfg, marks: cfg.marks, cat: cat, lookupEnv: os.LookupEnv, readFile: os.ReadFile, hostname: os.Hostname}
	res := v.run()
	if len(v.problems) > 0 {
		return nil, sorted(v.problems)
	}
	return res, nil
}

// ResolveStore checks and resolves only the store.etcd and cluster.node
// keys of cfg (the CLI reads the cluster's store with the server's file,
// without the server's other secrets). It returns nil for a single node.
func ResolveStore(cfg Config) (*Etcd, string, error) {
	v := &validator{cfg: cfg, marks: cfg.marks, lookupEnv: os.LookupEnv, readFile: os.ReadFile, hostname: os.Hostname}
	res := &Resolved{}
	v.store(res)
	if len(v.problems) > 0 {
		return nil, "", sorted(v.problems)
	}
	return res.Etcd, res.Node, nil
}

type validator struct {
	cfg       Config
	marks     *marks
	cat       Catalog
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	hostname  func() (string, error)
	problems  Problems
}

// errorf adds a problem at path's position.
func (v *validator) errorf(path, format string, args ...any) {
	v.errorAt(path, path, format, args...)
}

// errorAt adds a problem shown at path but positioned at the value of at
// (an element of a list the message names by value, say).
func (v *validator) errorAt(at, path, format string, args ...any) {
	p := Problem{Path: path, Msg: fmt.Sprintf(format, args...)}
	if line, col, ok := v.marks.pos(at); ok {
		p.File, p.Line, p.Column = v.marks.file, line, col
	}
	v.problems = append(v.problems, p)
}

// secret resolves one secret, reporting a problem at the offending key.
func (v *validator) secret(key, literal, env, file string) string {
	val, err := resolveSecret(Secret{Key: key, Literal: literal, Env: env, FileKey: file}, v.lookupEnv, v.readFile)
	if err != nil {
		v.errorf(err.Key, "%s", err.Msg)
	}
	return val
}

func (v *validator) run() *Resolved {
	res := &Resolved{}
	v.top(res)
	v.sources(res)
	v.actions(res)
	v.guards(res)
	v.approvals(res)
	v.audit(res)
	v.api(res)
	v.http()
	v.dashboard()
	v.tls(res)
	v.store(res)
	return res
}

func (v *validator) top(res *Resolved) {
	c := v.cfg
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		v.errorf("listen", "%q is not a host:port address such as 127.0.0.1:9095", c.Listen)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		v.errorf("data_dir", "must not be empty")
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		v.errorf("log_format", "%q must be text or json", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "debug", "info", "warn", "error":
	default:
		v.errorf("log_level", "%q must be debug, info, warn or error", c.LogLevel)
	}
	if c.Workers < 0 {
		v.errorf("workers", "must not be negative")
	}
	if c.MaxConcurrentActions < 0 {
		v.errorf("max_concurrent_actions", "must not be negative")
	}
	if c.MaxBodyBytes < 0 {
		v.errorf("max_body_bytes", "must not be negative")
	}
	if c.MaxEventAge != nil {
		if *c.MaxEventAge < 0 {
			v.errorf("max_event_age", "must not be negative")
		}
		res.MaxEventAge = c.MaxEventAge.D()
	}
	for i, p := range c.Playbooks {
		if strings.TrimSpace(p) == "" {
			v.errorf(fmt.Sprintf("playbooks[%d]", i), "must not be empty")
		}
	}
}

// sources turns the `sources:` section into receivers. Without the section
// every built-in source is on; without authentication that is only allowed
// on a loopback address, where nothing else can reach it.
func (v *validator) sources(res *Resolved) {
	c := v.cfg
	builtin := sources.Builtin()
	res.Sources = map[string]web.Source{}
	if c.Sources == nil {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return // reported as listen's own problem
		}
		if !LoopbackAddr(c.Listen) {
			v.errorf("listen", "listening on %s, which is not a loopback address, with no sources configured: configure sources.<name>.auth (or insecure: true) before exposing Firebreak", c.Listen)
			return
		}
		for name, dec := range builtin {
			res.Sources[name] = web.Source{Decoder: dec}
		}
		res.DefaultSources = true
		return
	}
	names := make([]string, 0, len(c.Sources))
	for name := range c.Sources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sc := c.Sources[name]
		path := "sources." + name
		if sc.Disabled {
			continue
		}
		var src web.Source
		key := name
		ok := true
		if dec, isBuiltin := builtin[name]; isBuiltin {
			if sc.Generic != nil {
				v.errorf(path+".generic", "only for generic sources, not the built-in %s", name)
				ok = false
			}
			src.Decoder = dec
		} else {
			if sc.Generic == nil {
				v.errorf(path, "not a built-in source, so it needs generic: (the field mapping)")
				continue
			}
			dec, err := sources.NewGeneric(name, *sc.Generic)
			if err != nil {
				v.split(path+".generic", err)
				ok = false
			} else {
				src.Decoder = dec
				key = "generic/" + name
			}
		}
		switch {
		case sc.Auth != nil:
			if a := v.auth(path+".auth", *sc.Auth); a != nil {
				src.Auth = a
				if cs, isCert := a.(auth.ClientCertSource); isCert && len(cs.ClientCAs()) > 0 {
					if !c.TLS.Enabled() {
						v.errorf(path+".auth", "client certificates (mtls) need the listener's tls: (cert_file and key_file)")
						ok = false
					}
					res.ClientCAs = append(res.ClientCAs, cs.ClientCAs()...)
				}
			} else {
				ok = false
			}
		case sc.Insecure:
			res.InsecureSources = append(res.InsecureSources, name)
		default:
			v.errorf(path, "no auth configured; add auth: or, knowingly, insecure: true")
			ok = false
		}
		if sc.MaxBodyBytes < 0 {
			v.errorf(path+".max_body_bytes", "must not be negative")
			ok = false
		}
		if rl := sc.RateLimit; rl != nil {
			switch {
			case rl.PerSecond <= 0:
				v.errorf(path+".rate_limit.per_second", "must be positive")
				ok = false
			case rl.Burst < 0:
				v.errorf(path+".rate_limit.burst", "must not be negative")
				ok = false
			default:
				src.Limiter = rate.NewLimiter(rate.Limit(rl.PerSecond), max(1, rl.Burst))
			}
		}
		src.MaxBodyBytes = sc.MaxBodyBytes
		if ok {
			res.Sources[key] = src
		}
	}
}

// authKey matches the "key: message" form of web/auth's errors, so that a
// problem is reported at the key it names.
var authKey = regexp.MustCompile(`^([a-z_]+)(\[\d+\])?: (.*)$`)

// auth resolves a source's secrets with the one resolver, then lets
// web/auth check the rest.
func (v *validator) auth(path string, ac auth.Config) auth.Authenticator {
	n := len(v.problems)
	for _, s := range []struct {
		name           string
		lit, env, file *string
	}{
		{"token", &ac.Token, &ac.TokenEnv, &ac.TokenFile},
		{"username", &ac.Username, &ac.UsernameEnv, &ac.UsernameFile},
		{"password", &ac.Password, &ac.PasswordEnv, &ac.PasswordFile},
		{"secret", &ac.Secret, &ac.SecretEnv, &ac.SecretFile},
	} {
		if *s.lit == "" && *s.env == "" && *s.file == "" {
			continue
		}
		val := v.secret(path+"."+s.name, *s.lit, *s.env, *s.file)
		*s.lit, *s.env, *s.file = val, "", ""
		if val == "" {
			// Reported; keep auth.New from saying "required" as well.
			*s.lit = "unresolved"
		}
	}
	// The rotation lists (tokens, passwords, secrets), each element in the
	// same three spellings.
	for _, l := range []struct {
		name              string
		lits, envs, files *[]string
	}{
		{"tokens", &ac.Tokens, &ac.TokensEnv, &ac.TokensFile},
		{"passwords", &ac.Passwords, &ac.PasswordsEnv, &ac.PasswordsFile},
		{"secrets", &ac.Secrets, &ac.SecretsEnv, &ac.SecretsFile},
	} {
		vals := append([]string(nil), *l.lits...)
		for _, spell := range []struct {
			suffix string
			list   []string
		}{{"_env", *l.envs}, {"_file", *l.files}} {
			for i, name := range spell.list {
				sec := Secret{Key: path + "." + l.name}
				if spell.suffix == "_env" {
					sec.Env = name
				} else {
					sec.FileKey = name
				}
				val, err := resolveSecret(sec, v.lookupEnv, v.readFile)
				if err != nil {
					v.errorf(fmt.Sprintf("%s.%s%s[%d]", path, l.name, spell.suffix, i), "%s", err.Msg)
					val = "unresolved"
				}
				vals = append(vals, val)
			}
		}
		*l.lits, *l.envs, *l.files = vals, nil, nil
	}
	a, err := auth.New(ac)
	if err != nil {
		v.split(path, err)
		return nil
	}
	if len(v.problems) > n {
		return nil
	}
	return a
}

// split reports each error joined in err at path, moving "key: …" messages
// to the key they name.
func (v *validator) split(path string, err error) {
	for _, e := range flatten(err) {
		msg := e.Error()
		if m := authKey.FindStringSubmatch(msg); m != nil {
			v.errorf(path+"."+m[1]+m[2], "%s", m[3])
			continue
		}
		v.errorf(path, "%s", msg)
	}
}

// flatten returns the leaves of joined errors, skipping sentinel wrappers
// (web/auth's ErrConfig) that carry no detail of their own.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			if e == auth.ErrConfig {
				continue
			}
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func (v *validator) actions(res *Resolved) {
	ac := v.cfg.Actions
	res.SlackToken = v.secret("actions.slack.token", ac.Slack.Token, ac.Slack.TokenEnv, ac.Slack.TokenFile)
	fc := firewall.Config{Table: ac.Firewall.Table, NetNS: ac.Firewall.NetNS}
	if ac.Firewall.MaxTTL != nil {
		fc.MaxTTL = ac.Firewall.MaxTTL.D()
	}
	if ac.Firewall.DefaultTTL != nil {
		fc.DefaultTTL = ac.Firewall.DefaultTTL.D()
	}
	if _, err := firewall.New(fc); err != nil {
		v.errorf("actions.firewall", "%s", strings.TrimPrefix(err.Error(), firewall.ErrConfig.Error()+": "))
	}
	for i, s := range ac.Firewall.Allowlist {
		if _, err := firewall.New(firewall.Config{Allowlist: []string{s}}); err != nil {
			v.errorf(fmt.Sprintf("actions.firewall.allowlist[%d]", i), "%q is not a CIDR range or address", s)
		}
	}
	for key, list := range map[string][]string{"allow_cidrs": ac.HTTP.AllowCIDRs, "deny_cidrs": ac.HTTP.DenyCIDRs} {
		for i, s := range list {
			if _, err := outbound.New(outbound.Config{AllowCIDRs: []string{s}}); err != nil {
				v.errorf(fmt.Sprintf("actions.http.%s[%d]", key, i), "%q is not a CIDR range or address", s)
			}
		}
	}
	res.OutboundTLS = v.outboundTLS(ac.HTTP.TLS)
	for i, ns := range ac.Kubernetes.ProtectedNamespaces {
		if strings.TrimSpace(ns) == "" {
			v.errorf(fmt.Sprintf("actions.kubernetes.protected_namespaces[%d]", i), "must not be empty")
		}
	}
}

// guardProblem checks one piece of guard configuration with the guard's own
// validation and returns its message, or "".
func guardProblem(gc guard.Config) string {
	if _, err := guard.New(gc); err != nil {
		return strings.TrimSuffix(err.Error(), ": "+guard.ErrInvalidConfig.Error())
	}
	return ""
}

func (v *validator) guards(res *Resolved) {
	gc := v.cfg.Guards
	switch gc.OnPause {
	case "", "drop":
	case "hold":
		res.HoldPaused = true
	default:
		v.errorf("guards.on_pause", "must be drop or hold, got %q", gc.OnPause)
	}
	var err error
	if res.MaxActions, err = parseRate(gc.MaxActions); err != nil {
		v.errorf("guards.max_actions", "%v", err)
	}
	if res.MaxTargets, err = parseRate(gc.MaxTargets); err != nil {
		v.errorf("guards.max_targets", "%v", err)
	}
	for i, ns := range gc.Protected.Namespaces {
		if msg := guardProblem(guard.Config{ProtectedNamespaces: []string{ns}}); msg != "" {
			v.errorf(fmt.Sprintf("guards.protected.namespaces[%d]", i), "%s", msg)
		}
	}
	for i, l := range gc.Protected.Labels {
		if msg := guardProblem(guard.Config{ProtectedLabels: []string{l}}); msg != "" {
			v.errorf(fmt.Sprintf("guards.protected.labels[%d]", i), "%s", msg)
		}
	}
	for i, c := range gc.Protected.CIDRs {
		if msg := guardProblem(guard.Config{ProtectedCIDRs: []string{c}}); msg != "" {
			v.errorf(fmt.Sprintf("guards.protected.cidrs[%d]", i), "%s", msg)
		}
	}
	if len(gc.Bounds) > 0 {
		res.Bounds = map[string]map[string]guard.Bound{}
		ids := make([]string, 0, len(gc.Bounds))
		for id := range gc.Bounds {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			path := "guards.bounds." + id
			if v.cat != nil {
				if _, err := v.cat.Get(id); err != nil {
					v.errorf(path, "%v", err)
					continue
				}
			}
			res.Bounds[id] = map[string]guard.Bound{}
			for name, b := range gc.Bounds[id] {
				bd := guard.Bound{Min: b.Min, Max: b.Max}
				if msg := guardProblem(guard.Config{Bounds: map[string]map[string]guard.Bound{id: {name: bd}}}); msg != "" {
					v.errorf(path+"."+name, "%s", msg)
				}
				res.Bounds[id][name] = bd
			}
		}
	}
	if gc.Notify != nil {
		switch {
		case gc.Notify.Action == "":
			v.errorf("guards.notify.action", "is required (webhook.notify or slack.notify)")
		case v.cat != nil:
			if _, err := NewNotifier(v.cat, *gc.Notify); err != nil {
				v.errorf("guards.notify", "%v", err)
			}
		}
	}
}

func parseRate(s string) (guard.Rate, error) {
	if strings.TrimSpace(s) == "" {
		return guard.Rate{}, nil
	}
	b, err := playbooks.ParseBudget(s)
	if err != nil {
		return guard.Rate{}, err
	}
	return guard.Rate{Count: b.Count, Window: b.Window}, nil
}

var (
	slackUserRE  = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	slackGroupRE = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
)

func (v *validator) approvals(res *Resolved) {
	c := v.cfg.Approvals
	res.SigningSecret = v.secret("approvals.signing_secret", c.SigningSecret, c.SigningSecretEnv, c.SigningSecretFile)
	res.BotToken = v.secret("approvals.bot_token", c.BotToken, c.BotTokenEnv, c.BotTokenFile)
	for i, u := range c.AllowedUsers {
		if !slackUserRE.MatchString(u) {
			v.errorAt(fmt.Sprintf("approvals.allowed_users[%d]", i), "approvals.allowed_users", "%q is not a slack user id such as U024BE7LH", u)
		}
	}
	for i, g := range c.AllowedGroups {
		if !slackGroupRE.MatchString(g) {
			v.errorAt(fmt.Sprintf("approvals.allowed_groups[%d]", i), "approvals.allowed_groups", "%q is not a slack user group id such as S0614TZR7", g)
		}
	}
	if c.BotToken+c.BotTokenEnv+c.BotTokenFile != "" && c.SlackChannel == "" {
		v.errorAt("approvals.bot_token", "approvals.slack_channel", "required when a bot token is configured")
	}
	if c.Approvers < 0 {
		v.errorf("approvals.approvers", "must be at least 1")
	}
	for key, d := range map[string]Duration{"default_expiry": c.DefaultExpiry, "sweep_interval": c.SweepInterval, "retention": c.Retention} {
		if d < 0 {
			v.errorf("approvals."+key, "must not be negative")
		}
	}
}

// Bounds of dashboard.session_ttl.
const (
	MinSessionTTL = time.Minute
	MaxSessionTTL = 30 * 24 * time.Hour
)

func (v *validator) dashboard() {
	if d := v.cfg.Dashboard.SessionTTL.D(); d != 0 && (d < MinSessionTTL || d > MaxSessionTTL) {
		v.errorf("dashboard.session_ttl", "must be between 1m and 720h (0 or unset: 12h), got %s", d)
	}
}

func (v *validator) audit(res *Resolved) {
	rc := v.cfg.Audit.Redaction
	for i, p := range rc.Patterns {
		if _, err := audit.NewRedactor(audit.RedactConfig{Patterns: []string{p}, NoDefaults: true}); err != nil {
			v.errorf(fmt.Sprintf("audit.redaction.patterns[%d]", i), "%v", err)
		}
	}
	red, err := audit.NewRedactor(audit.RedactConfig{Keys: rc.Keys, Patterns: rc.Patterns, NoDefaults: rc.NoDefaults})
	if err == nil {
		res.Redactor = red
	} else if len(rc.Patterns) == 0 {
		v.errorf("audit.redaction", "%v", err)
	}
	r := v.cfg.Audit.Retention
	for key, bad := range map[string]bool{
		"max_age": r.MaxAge < 0, "max_records": r.MaxRecords < 0, "max_bytes": r.MaxBytes < 0,
		"inbox_max_age": r.InboxMaxAge < 0, "interval": r.Interval < 0,
	} {
		if bad {
			v.errorf("audit.retention."+key, "must not be negative")
		}
	}
	c := v.cfg.Audit
	if c.CheckpointEvery < 0 {
		v.errorf("audit.checkpoint_every", "must not be negative")
	}
	if c.CheckpointInterval < 0 {
		v.errorf("audit.checkpoint_interval", "must not be negative")
	}
	if c.Witness.URL != "" {
		if err := anchor.CheckURL(c.Witness.URL); err != nil {
			v.errorf("audit.witness.url", "%v", err)
		}
	}
	if c.SigningKeyFile == "" {
		if c.Witness.URL != "" || c.Witness.File != "" {
			v.errorf("audit.witness", "needs audit.signing_key_file (the witness keeps signed checkpoints)")
		}
		return
	}
	key, err := anchor.LoadPrivateKey(c.SigningKeyFile)
	if err != nil {
		v.errorf("audit.signing_key_file", "%v", err)
		return
	}
	res.AuditKey = key
}

// http checks the listener's http section: trusted proxies and
// connection limits.
func (v *validator) http() {
	hc := v.cfg.HTTP
	for i, p := range hc.TrustedProxies {
		if _, err := web.ParseProxy(p); err != nil {
			v.errorf(fmt.Sprintf("http.trusted_proxies[%d]", i), "%q is not an IP address or CIDR", p)
		}
	}
	if hc.MaxConnections < 0 {
		v.errorf("http.max_connections", "must not be negative")
	}
	if hc.MaxConnectionsPerIP < 0 {
		v.errorf("http.max_connections_per_ip", "must not be negative")
	}
}

// tls checks the listener's certificate: both files, and a pair that
// loads.
func (v *validator) tls(res *Resolved) {
	tc := v.cfg.TLS
	if !tc.Enabled() {
		if tc.MinVersion != "" {
			v.errorf("tls.min_version", "set tls.cert_file and tls.key_file too, or remove it")
		}
		return
	}
	switch tc.MinVersion {
	case "", "1.2":
		res.TLSMinVersion = tls.VersionTLS12
	case "1.3":
		res.TLSMinVersion = tls.VersionTLS13
	default:
		v.errorf("tls.min_version", "%q must be \"1.2\" or \"1.3\"", tc.MinVersion)
	}
	switch {
	case tc.CertFile == "":
		v.errorf("tls.cert_file", "is required with tls.key_file")
	case tc.KeyFile == "":
		v.errorf("tls.key_file", "is required with tls.cert_file")
	default:
		if _, err := v.readFile(tc.CertFile); err != nil {
			v.errorf("tls.cert_file", "%v", err)
			return
		}
		if _, err := v.readFile(tc.KeyFile); err != nil {
			v.errorf("tls.key_file", "%v", err)
			return
		}
		if _, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile); err != nil {
			v.errorf("tls", "the certificate and key do not load: %v", err)
		}
	}
}

// nodeRE is what cluster.node may be: it names the replica in etcd keys
// and audit records (a DNS label or a dotted host name).
var nodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// prefixRE is store.etcd.prefix: /segment[/segment…], no trailing slash.
var prefixRE = regexp.MustCompile(`^(/[A-Za-z0-9._-]+)+$`)

// store checks store.etcd and cluster.node; the TLS files must load and
// the password resolves through the one secret resolver.
func (v *validator) store(res *Resolved) {
	ec, node := v.cfg.Store.Etcd, v.cfg.Cluster.Node
	if ec == nil {
		if node != "" {
			v.errorf("cluster.node", "is only used in clustered mode: set store.etcd too, or remove it")
		}
		return
	}
	if v.cfg.Store.WriteAheadLog {
		v.errorf("store.write_ahead_log", "applies to the bbolt file only; with store.etcd every accepted event commits to etcd: remove it")
	}
	e := &Etcd{Prefix: ec.Prefix, Username: ec.Username}
	if e.Prefix == "" {
		e.Prefix = "/firebreak"
	} else if !prefixRE.MatchString(e.Prefix) {
		v.errorf("store.etcd.prefix", "%q must start with / and not end with one (such as /firebreak)", ec.Prefix)
	}
	if len(ec.Endpoints) == 0 {
		v.errorf("store.etcd.endpoints", "at least one etcd client URL is required (such as https://etcd-0:2379)")
	}
	for i, ep := range ec.Endpoints {
		path := fmt.Sprintf("store.etcd.endpoints[%d]", i)
		u, err := url.Parse(ep)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https"):
			v.errorf(path, "%q is not an http:// or https:// URL", ep)
		case u.Host == "" || u.Hostname() == "":
			v.errorf(path, "%q has no host", ep)
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil:
			v.errorf(path, "%q must be scheme://host:port only", ep)
		case ec.TLS != nil && u.Scheme != "https":
			v.errorf(path, "%q is plain http but store.etcd.tls is set", ep)
		default:
			e.Endpoints = append(e.Endpoints, ep)
		}
	}
	if t := ec.TLS; t != nil {
		e.CAFile, e.CertFile, e.KeyFile = t.CAFile, t.CertFile, t.KeyFile
		if t.CAFile != "" {
			data, err := v.readFile(t.CAFile)
			switch {
			case err != nil:
				v.errorf("store.etcd.tls.ca_file", "%v", err)
			case !x509.NewCertPool().AppendCertsFromPEM(data):
				v.errorf("store.etcd.tls.ca_file", "%s holds no PEM certificate", t.CAFile)
			}
		}
		switch {
		case t.CertFile == "" && t.KeyFile == "":
		case t.CertFile == "":
			v.errorf("store.etcd.tls.cert_file", "is required with key_file")
		case t.KeyFile == "":
			v.errorf("store.etcd.tls.key_file", "is required with cert_file")
		default:
			if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
				v.errorf("store.etcd.tls", "the client certificate and key do not load: %v", err)
			}
		}
	}
	pw := v.secret("store.etcd.password", ec.Password, ec.PasswordEnv, ec.PasswordFile)
	switch {
	case ec.Username == "" && (ec.Password != "" || ec.PasswordEnv != "" || ec.PasswordFile != ""):
		v.errorAt(secretKey("store.etcd.password", ec.Password, ec.PasswordEnv, ec.PasswordFile), "store.etcd.username", "is required with a password")
	case ec.Username != "" && pw == "" && ec.Password == "" && ec.PasswordEnv == "" && ec.PasswordFile == "":
		v.errorf("store.etcd.password", "is required with username (password, password_env or password_file)")
	}
	e.Password = pw
	res.Etcd = e

	if node == "" {
		h, err := v.hostname()
		if err != nil || h == "" {
			v.errorf("cluster.node", "is not set and the hostname is unknown (%v): name this replica", err)
			return
		}
		node = h
		if !nodeRE.MatchString(node) {
			v.errorf("cluster.node", "is not set and the hostname %q cannot name a replica: set cluster.node (letters, digits, '.', '_', '-')", h)
			return
		}
	} else if !nodeRE.MatchString(node) {
		v.errorf("cluster.node", "%q must be letters, digits, '.', '_' or '-', starting with a letter or digit", node)
	}
	res.Node = node
}

// outboundTLS builds actions.http.tls: the system's roots plus ca_file,
// and the client certificate.
func (v *validator) outboundTLS(oc OutboundTLSConfig) *tls.Config {
	if oc == (OutboundTLSConfig{}) {
		return nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if oc.CAFile != "" {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		data, err := v.readFile(oc.CAFile)
		switch {
		case err != nil:
			v.errorf("actions.http.tls.ca_file", "%v", err)
		case !roots.AppendCertsFromPEM(data):
			v.errorf("actions.http.tls.ca_file", "%s holds no PEM certificate", oc.CAFile)
		}
		tc.RootCAs = roots
	}
	switch {
	case oc.CertFile == "" && oc.KeyFile == "":
	case oc.CertFile == "":
		v.errorf("actions.http.tls.cert_file", "is required with key_file")
	case oc.KeyFile == "":
		v.errorf("actions.http.tls.key_file", "is required with cert_file")
	default:
		pair, err := tls.LoadX509KeyPair(oc.CertFile, oc.KeyFile)
		if err != nil {
			v.errorf("actions.http.tls", "the client certificate and key do not load: %v", err)
			break
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc
}

// MinTokenLength is the shortest API token accepted.
const MinTokenLength = 16

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func (v *validator) api(res *Resolved) {
	names := map[string]int{}
	values := map[string]int{}
	for i, t := range v.cfg.API.Tokens {
		key := fmt.Sprintf("api.tokens[%d]", i)
		ok := true
		switch {
		case t.Name == "":
			v.errorf(key+".name", "is required (it names the caller in the audit trail)")
			ok = false
		case !tokenNameRE.MatchString(t.Name):
			v.errorf(key+".name", "%q must be letters, digits, '.', '_', '@' or '-' (at most 64)", t.Name)
			ok = false
		default:
			if j, dup := names[t.Name]; dup {
				v.errorf(key+".name", "%q is used twice (first at api.tokens[%d])", t.Name, j)
				ok = false
			}
			names[t.Name] = i
		}
		role, known := web.ParseRole(t.Role)
		if !known {
			if t.Role == "" {
				v.errorf(key+".role", "is required: viewer, approver or operator")
			} else {
				v.errorf(key+".role", "%q must be viewer, approver or operator", t.Role)
			}
			ok = false
		}
		if t.Token == "" && t.TokenEnv == "" && t.TokenFile == "" {
			v.errorf(key+".token", "is required: give token, token_env or token_file")
			continue
		}
		secret := v.secret(key+".token", t.Token, t.TokenEnv, t.TokenFile)
		if secret == "" {
			continue
		}
		if len(secret) < MinTokenLength {
			v.errorf(secretKey(key+".token", t.Token, t.TokenEnv, t.TokenFile), "must be at least %d characters", MinTokenLength)
			continue
		}
		if j, dup := values[secret]; dup {
			v.errorf(secretKey(key+".token", t.Token, t.TokenEnv, t.TokenFile), "the same token as api.tokens[%d]; every caller needs its own", j)
			continue
		}
		values[secret] = i
		if ok {
			res.Tokens = append(res.Tokens, web.APIToken{Name: t.Name, Role: role, Secret: secret})
		}
	}
}

// secretKey names the spelling of a secret that is set.
func secretKey(key, literal, env, file string) string {
	switch {
	case env != "":
		return key + "_env"
	case file != "":
		return key + "_file"
	}
	return key
}

// LoopbackAddr reports whether a host:port (a listen address or a TCP
// peer) is on the loopback interface.
func LoopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
