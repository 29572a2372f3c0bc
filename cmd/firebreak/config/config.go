package config

import (
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/auth"
	"github.com/firebreak/firebreak/web/sources"
)

// Duration is a time.Duration written as "15m" in YAML.
type Duration time.Duration

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is the configuration file's shape. Every key is optional.
type Config struct {
	// Listen is the HTTP address (default 127.0.0.1:9095).
	Listen string `yaml:"listen"`
	// DataDir holds the bbolt database (default ./data).
	DataDir string `yaml:"data_dir"`
	// Playbooks lists playbook files or directories; empty loads the
	// embedded examples.
	Playbooks []string `yaml:"playbooks"`
	// LogFormat is text or json (default text).
	LogFormat string `yaml:"log_format"`
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string `yaml:"log_level"`
	// DryRun makes every step a dry run.
	DryRun bool `yaml:"dry_run"`
	// Workers bounds concurrent event processing (default
	// engine.DefaultWorkers, 256).
	Workers int `yaml:"workers"`
	// MaxConcurrentActions bounds the action runs, dry runs included,
	// under way at once (default engine.DefaultMaxActions, 32).
	MaxConcurrentActions int `yaml:"max_concurrent_actions"`
	// MaxBodyBytes bounds a webhook body (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxEventAge marks older firing events stale: audited, not acted on
	// (default 1h; 0 disables).
	MaxEventAge *Duration `yaml:"max_event_age"`
	// ActOnStale runs steps for stale events too.
	ActOnStale bool `yaml:"act_on_stale"`
	// Sources configures receivers; see docs/sources.md.
	Sources map[string]SourceConfig `yaml:"sources"`
	// Guards configures protected targets, global caps and the kill switch.
	Guards GuardsConfig `yaml:"guards"`
	// Approvals configures human approval.
	Approvals ApprovalsConfig `yaml:"approvals"`
	// Actions configures what the built-in actions drive.
	Actions ActionsConfig `yaml:"actions"`
	// Audit configures retention and redaction.
	Audit AuditConfig `yaml:"audit"`
	// API configures who may call /api/v1.
	API APIConfig `yaml:"api"`
	// HTTP configures trusted proxies and connection limits of the
	// listener (web.HTTPConfig).
	HTTP web.HTTPConfig `yaml:"http"`
	// TLS serves the listener over TLS.
	TLS TLSConfig `yaml:"tls"`
	// Dashboard configures the dashboard's session cookies.
	Dashboard DashboardConfig `yaml:"dashboard"`
	// Store chooses where the state lives: the bbolt file in data_dir (the
	// default) or, with store.etcd, an etcd cluster several replicas share.
	Store StoreConfig `yaml:"store"`
	// Cluster names this replica in clustered mode.
	Cluster ClusterConfig `yaml:"cluster"`

	// marks are the positions of the decoded keys and values, by key path;
	// nil for a Config built in Go.
	marks *marks
}

// Defaults returns the embedded defaults.
func Defaults() Config {
	age := Duration(time.Hour)
	return Config{
		Listen:               "127.0.0.1:9095",
		DataDir:              "data",
		LogFormat:            "text",
		LogLevel:             "info",
		Workers:              engine.DefaultWorkers,
		MaxConcurrentActions: engine.DefaultMaxActions,
		MaxBodyBytes:         1 << 20,
		MaxEventAge:          &age,
	}
}

// DBPath is the database file inside the data directory.
func (c Config) DBPath() string { return c.DataDir + "/firebreak.db" }

// Clustered reports whether the state lives in etcd (store.etcd is set).
func (c Config) Clustered() bool { return c.Store.Etcd != nil }

// StoreConfig is the `store:` section.
type StoreConfig struct {
	// Etcd, when set, keeps every piece of shared state (inbox, guards,
	// approvals, audit trail) in an etcd cluster instead of the bbolt
	// file: clustered mode.
	Etcd *EtcdConfig `yaml:"etcd"`
	// WriteAheadLog acknowledges accepted events once they are flushed to
	// a write-ahead log beside the bbolt file (firebreak.db.wal) instead
	// of after the file's commit. Off by default: on the machines measured
	// so far it is not yet faster (docs/performance.md). Turning it off
	// again is safe: the next start moves what the log holds.
	WriteAheadLog bool `yaml:"write_ahead_log"`
}

// EtcdConfig is store.etcd: the etcd cluster of clustered mode. The
// password is a secret: password, password_env or password_file, at most
// one, and only with username.
type EtcdConfig struct {
	// Endpoints are the etcd client URLs (http:// or https://).
	Endpoints []string `yaml:"endpoints"`
	// Prefix is put before every key (default /firebreak).
	Prefix string `yaml:"prefix"`
	// TLS authenticates the etcd servers (ca_file) and this client
	// (cert_file and key_file, both or neither).
	TLS *EtcdTLSConfig `yaml:"tls"`
	// Username and password authenticate to etcd's role-based access
	// control.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// EtcdTLSConfig is store.etcd.tls.
type EtcdTLSConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// ClusterConfig is the `cluster:` section.
type ClusterConfig struct {
	// Node is this replica's name in clustered mode, unique in the
	// cluster (default: the hostname). It owns the replica's claims and
	// appears in the audit trail.
	Node string `yaml:"node"`
}

// SourceConfig configures one receiver. A key of `sources:` that names a
// built-in source (alertmanager, grafana, falco, wazuh, elastic, splunk,
// graylog, azure) configures it; any other key is a generic source served
// at /hooks/generic/KEY and needs `generic:`.
type SourceConfig struct {
	// Auth authenticates requests; see web/auth. Required unless Insecure.
	Auth *auth.Config `yaml:"auth"`
	// Insecure accepts unauthenticated requests (a warning is logged at
	// every start).
	Insecure bool `yaml:"insecure"`
	// Disabled turns the receiver off.
	Disabled bool `yaml:"disabled"`
	// MaxBodyBytes overrides max_body_bytes for this source.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// RateLimit bounds requests per second (with a burst); over it, 429.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// Generic maps a generic JSON body to events with expr.
	Generic *sources.GenericConfig `yaml:"generic"`
}

// RateLimit is a token bucket: PerSecond requests, bursts of Burst.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// GuardsConfig is the `guards:` section: protected targets, parameter
// bounds, global caps, the kill switch and who is told when a breaker
// opens. Who may call the guard API is api.tokens.
type GuardsConfig struct {
	// Paused stops all execution while set; the API cannot resume it.
	Paused bool `yaml:"paused"`
	// OnPause is what happens to a step refused while paused: "drop"
	// (the default: refused for good) or "hold" (run on resume unless the
	// event is stale by then).
	OnPause string `yaml:"on_pause"`
	// Protected lists what no playbook may touch.
	Protected ProtectedConfig `yaml:"protected"`
	// Bounds limits integer parameters per action and parameter:
	// {kubernetes.scale: {replicas: {min: 1, max: 20}}}.
	Bounds map[string]map[string]BoundConfig `yaml:"bounds"`
	// MaxActions caps acting runs across all playbooks ("30/1m").
	MaxActions string `yaml:"max_actions"`
	// MaxTargets caps distinct targets acted on across all playbooks
	// ("10/10m").
	MaxTargets string `yaml:"max_targets"`
	// Notify runs an action when a breaker opens (webhook.notify,
	// slack.notify); the message fills its text or body unless set.
	Notify *GuardNotifyConfig `yaml:"notify"`
}

// ProtectedConfig lists what no playbook may touch.
type ProtectedConfig struct {
	// Namespaces are names or patterns ("kube-*").
	Namespaces []string `yaml:"namespaces"`
	// Labels are selectors matched against the event's labels
	// ("firebreak.io/protected=true", "tier=db,env!=dev").
	Labels []string `yaml:"labels"`
	// CIDRs are address ranges or single addresses.
	CIDRs []string `yaml:"cidrs"`
}

// BoundConfig bounds one integer parameter; an absent end is open.
type BoundConfig struct {
	Min *int `yaml:"min"`
	Max *int `yaml:"max"`
}

// GuardNotifyConfig names the action that tells humans a breaker opened.
type GuardNotifyConfig struct {
	Action string         `yaml:"action"`
	With   map[string]any `yaml:"with"`
}

// ApprovalsConfig is the `approvals:` section: where approval requests are
// posted, who may decide them in Slack and how long they wait. Each secret
// is given literally, by environment variable (_env) or by file (_file):
// exactly one of the three. Who may decide through the API is api.tokens.
type ApprovalsConfig struct {
	// SlackChannel is the channel approval requests are posted to.
	SlackChannel string `yaml:"slack_channel"`
	// SigningSecret is the Slack app's signing secret; without it every
	// call to /slack/interactions is refused.
	SigningSecret     string `yaml:"signing_secret"`
	SigningSecretEnv  string `yaml:"signing_secret_env"`
	SigningSecretFile string `yaml:"signing_secret_file"`
	// BotToken (xoxb-…) posts and updates the messages (scopes chat:write,
	// and usergroups:read for allowed_groups). Without it the slack.notify
	// client (actions.slack) is used when that one has a token.
	BotToken     string `yaml:"bot_token"`
	BotTokenEnv  string `yaml:"bot_token_env"`
	BotTokenFile string `yaml:"bot_token_file"`
	// SlackAPIURL overrides Slack's Web API base URL (tests, proxies).
	SlackAPIURL string `yaml:"slack_api_url"`
	// AllowedUsers are Slack user ids (U…, W…) that may approve and deny.
	AllowedUsers []string `yaml:"allowed_users"`
	// AllowedGroups are Slack user group ids (S…) whose members may.
	AllowedGroups []string `yaml:"allowed_groups"`
	// DefaultExpiry is how long an approval waits when the playbook does
	// not say (default 30m); undecided approvals are then denied.
	DefaultExpiry Duration `yaml:"default_expiry"`
	// Approvers is how many distinct people must approve when the playbook
	// does not say (default 1; 2 is the two-person rule).
	Approvers int `yaml:"approvers"`
	// SweepInterval is how often expiries are checked (default 5s).
	SweepInterval Duration `yaml:"sweep_interval"`
	// Retention is how long decided approvals are listed (default 720h).
	Retention Duration `yaml:"retention"`
}

// ActionsConfig is the `actions:` section: what the built-in actions drive.
type ActionsConfig struct {
	Kubernetes KubernetesConfig `yaml:"kubernetes"`
	Slack      SlackConfig      `yaml:"slack"`
	Firewall   FirewallConfig   `yaml:"firewall"`
	// HTTP is the outbound policy of every action that makes HTTP calls
	// (actions/outbound).
	HTTP OutboundConfig `yaml:"http"`
}

// TLSConfig is the `tls:` section: the listener's certificate. The files
// are read again when they change (and on SIGHUP), so a renewal needs no
// restart.
type TLSConfig struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key.
	KeyFile string `yaml:"key_file"`
	// MinVersion is "1.2" (the default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// Enabled reports whether the listener serves TLS.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

// OutboundConfig is actions.http: CIDRs that widen (allow) or narrow
// (deny) the outbound policy's defaults.
type OutboundConfig struct {
	AllowCIDRs []string `yaml:"allow_cidrs"`
	DenyCIDRs  []string `yaml:"deny_cidrs"`
	// TLS is the TLS of the calls, for receivers inside a private PKI.
	TLS OutboundTLSConfig `yaml:"tls"`
}

// OutboundTLSConfig is actions.http.tls.
type OutboundTLSConfig struct {
	// CAFile is a PEM bundle trusted in addition to the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate presented to
	// receivers that ask for one (mutual TLS); both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// KubernetesConfig is actions.kubernetes.
type KubernetesConfig struct {
	// Kubeconfig is a kubeconfig path; empty searches $KUBECONFIG,
	// ~/.kube/config, then the in-cluster service account.
	Kubeconfig string `yaml:"kubeconfig"`
	Context    string `yaml:"context"`
	InCluster  bool   `yaml:"in_cluster"`
	// ProtectedNamespaces no action may touch (default kube-system,
	// kube-public, kube-node-lease).
	ProtectedNamespaces []string `yaml:"protected_namespaces"`
}

// SlackConfig is actions.slack: the slack.notify client.
type SlackConfig struct {
	Token          string `yaml:"token"`
	TokenEnv       string `yaml:"token_env"`
	TokenFile      string `yaml:"token_file"`
	DefaultChannel string `yaml:"default_channel"`
	LinkBaseURL    string `yaml:"link_base_url"`
	// APIURL overrides Slack's API base URL (tests).
	APIURL string `yaml:"api_url"`
}

// FirewallConfig is actions.firewall.
type FirewallConfig struct {
	// Enabled lets firewall actions change the host's nftables.
	Enabled    bool      `yaml:"enabled"`
	Table      string    `yaml:"table"`
	NetNS      string    `yaml:"netns"`
	Allowlist  []string  `yaml:"allowlist"`
	MaxTTL     *Duration `yaml:"max_ttl"`
	DefaultTTL *Duration `yaml:"default_ttl"`
}

// AuditConfig is the `audit:` section: retention and redaction of the audit
// trail (and of the inbox the replay reads).
type AuditConfig struct {
	Retention RetentionConfig `yaml:"retention"`
	Redaction RedactionConfig `yaml:"redaction"`
	// SigningKeyFile is the ed25519 key that signs checkpoints of the
	// chain: PEM PKCS#8, or a raw 32-byte seed.
	SigningKeyFile string `yaml:"signing_key_file"`
	// CheckpointEvery is how many records may follow a signed checkpoint
	// (default 1000).
	CheckpointEvery int `yaml:"checkpoint_every"`
	// CheckpointInterval is how often new records are signed (default 1m).
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// Witness says where signed checkpoints are kept outside the database.
	Witness WitnessConfig `yaml:"witness"`
}

// WitnessConfig is `audit.witness`: where signed checkpoints are kept out
// of reach of whoever can edit the database.
type WitnessConfig struct {
	// URL receives each newest checkpoint as a JSON POST.
	URL string `yaml:"url"`
	// File is appended one JSON line per checkpoint; put it on another
	// volume than data_dir.
	File string `yaml:"file"`
}

// RetentionConfig says how long the audit trail and the inbox keep data.
// Zero values keep everything.
type RetentionConfig struct {
	// MaxAge removes audit records older than this (e.g. 2160h = 90 days).
	MaxAge Duration `yaml:"max_age"`
	// MaxRecords keeps at most this many audit records, the newest.
	MaxRecords int `yaml:"max_records"`
	// MaxBytes keeps the stored audit records within this many bytes,
	// removing the oldest.
	MaxBytes int64 `yaml:"max_bytes"`
	// InboxMaxAge removes processed inbox events (their raw payloads, which
	// replay reads) and their idempotency keys received longer ago than
	// this; pending events are never removed. Default: MaxAge.
	InboxMaxAge Duration `yaml:"inbox_max_age"`
	// Interval is how often retention runs (default 1h).
	Interval Duration `yaml:"interval"`
}

// RedactionConfig says what is removed from audit records before they are
// written.
type RedactionConfig struct {
	// Keys are extra data keys whose values are always redacted
	// (case-insensitive), in addition to the built-in sensitive keys.
	Keys []string `yaml:"keys"`
	// Patterns are extra regular expressions; every match in any string of
	// a record is replaced by [redacted].
	Patterns []string `yaml:"patterns"`
	// NoDefaults turns off the built-in keys and patterns.
	NoDefaults bool `yaml:"no_defaults"`
}

// APIConfig is the `api:` section: the bearer tokens of /api/v1.
type APIConfig struct {
	// Tokens are the API's callers, each with one role.
	Tokens []APIToken `yaml:"tokens"`
}

// DashboardConfig is the `dashboard:` section: the dashboard's sessions.
type DashboardConfig struct {
	// SecureCookies marks the session cookies Secure on plain HTTP too,
	// for a TLS-terminating proxy in front of Firebreak; they are always
	// Secure when Firebreak serves TLS itself.
	SecureCookies bool `yaml:"secure_cookies"`
	// SessionTTL is how long a dashboard session lasts (default 12h,
	// between 1m and 720h).
	SessionTTL Duration `yaml:"session_ttl"`
}

// APIToken is one bearer token of the API. Its Name is the actor the audit
// trail records (api:NAME); the token itself is never recorded.
type APIToken struct {
	Name string `yaml:"name"`
	// Role is viewer (read the audit trail, timelines, state, playbooks),
	// approver (viewer + decide approvals) or operator (approver + pause,
	// resume, breaker reset, reload, replay, dead letters).
	Role      string `yaml:"role"`
	Token     string `yaml:"token"`
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
}

// renamed are keys that no longer exist, with what replaces them; the
// loader names the replacement instead of "unknown key".
var renamed = map[string]string{
	"guards.api_token":      "moved to api.tokens (a list of {name, role: operator, token|token_env|token_file})",
	"guards.api_token_env":  "moved to api.tokens (a list of {name, role: operator, token_env})",
	"guards.api_token_file": "moved to api.tokens (a list of {name, role: operator, token_file})",
	"approvals.api_tokens":  "moved to api.tokens (each token now has one role: viewer, approver or operator)",
}
