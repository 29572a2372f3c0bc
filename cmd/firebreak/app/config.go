package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firebreak/firebreak/web"
)

// Duration is a time.Duration written as "15m" in YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as \"15m\"", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

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
	// Workers bounds concurrent event processing (default 8).
	Workers int `yaml:"workers"`
	// MaxBodyBytes bounds a webhook body (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxEventAge marks older firing events stale: audited, not acted on
	// (default 1h; 0 disables).
	MaxEventAge *Duration `yaml:"max_event_age"`
	// ActOnStale runs steps for stale events too.
	ActOnStale bool `yaml:"act_on_stale"`
	// Sources configures receivers; see the README.
	Sources map[string]SourceConfig `yaml:"sources"`
	// Guards configures protected targets, global caps and the kill switch
	// (wire_guards.go).
	Guards GuardsConfig `yaml:"guards"`
	// Approvals configures human approval (wire_approvals.go).
	Approvals ApprovalsConfig `yaml:"approvals"`
	// Actions configures what the built-in actions drive (wire_actions.go).
	Actions ActionsConfig `yaml:"actions"`
	// Audit configures retention and redaction (wire_metrics.go).
	Audit AuditConfig `yaml:"audit"`
	// HTTP configures trusted proxies and connection limits (web.HTTPConfig).
	HTTP web.HTTPConfig `yaml:"http"`
}

// Defaults returns the embedded defaults.
func Defaults() Config {
	age := Duration(time.Hour)
	return Config{
		Listen:       "127.0.0.1:9095",
		DataDir:      "data",
		LogFormat:    "text",
		LogLevel:     "info",
		Workers:      8,
		MaxBodyBytes: 1 << 20,
		MaxEventAge:  &age,
	}
}

// LoadConfig reads a configuration file over the defaults. Unknown keys are
// errors.
func LoadConfig(path string) (Config, error) {
	cfg := Defaults()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// DBPath is the database file inside the data directory.
func (c Config) DBPath() string { return c.DataDir + "/firebreak.db" }
