package app

import (
	"github.com/firebreak/firebreak/cmd/firebreak/config"
)

// The configuration's types live in package config; these names keep the
// app's callers and tests short.
type (
	// Config is config.Config.
	Config = config.Config
	// Duration is config.Duration.
	Duration = config.Duration
	// SourceConfig is config.SourceConfig.
	SourceConfig = config.SourceConfig
	// GuardsConfig is config.GuardsConfig.
	GuardsConfig = config.GuardsConfig
	// BoundConfig is config.BoundConfig.
	BoundConfig = config.BoundConfig
	// GuardNotifyConfig is config.GuardNotifyConfig.
	GuardNotifyConfig = config.GuardNotifyConfig
	// ApprovalsConfig is config.ApprovalsConfig.
	ApprovalsConfig = config.ApprovalsConfig
	// ActionsConfig is config.ActionsConfig.
	ActionsConfig = config.ActionsConfig
	// AuditConfig is config.AuditConfig.
	AuditConfig = config.AuditConfig
	// RateLimit is config.RateLimit.
	RateLimit = config.RateLimit
	// APIToken is config.APIToken.
	APIToken = config.APIToken
)

// Defaults returns the embedded defaults.
func Defaults() Config { return config.Defaults() }

// LoadConfig reads and decodes a configuration file over the defaults.
// Unknown keys are errors, each at its position; Start validates the
// values (config.Load does both at once).
func LoadConfig(path string) (Config, error) { return config.LoadFile(path) }
