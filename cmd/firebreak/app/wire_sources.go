package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"

	"golang.org/x/time/rate"

	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/auth"
	"github.com/firebreak/firebreak/web/sources"
)

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
	RateLimit *struct {
		PerSecond float64 `yaml:"per_second"`
		Burst     int     `yaml:"burst"`
	} `yaml:"rate_limit"`
	// Generic maps a generic JSON body to events with expr.
	Generic *sources.GenericConfig `yaml:"generic"`
}

// buildSources turns the `sources:` section into receivers. Without the
// section every built-in source is on; without authentication that is only
// allowed on a loopback address, where nothing else can reach it.
func buildSources(cfg Config, log *slog.Logger) (map[string]web.Source, error) {
	builtin := sources.Builtin()
	out := map[string]web.Source{}
	var errs []error
	if cfg.Sources == nil {
		if !loopbackAddr(cfg.Listen) {
			return nil, fmt.Errorf("sources: listening on %s, which is not a loopback address, with no sources configured: configure sources.<name>.auth (or insecure: true) before exposing Firebreak", cfg.Listen)
		}
		names := make([]string, 0, len(builtin))
		for name, dec := range builtin {
			out[name] = web.Source{Decoder: dec}
			names = append(names, name)
		}
		sort.Strings(names)
		log.Warn("sources accept unauthenticated requests because none are configured; allowed only on a loopback listen address", "sources", strings.Join(names, ","), "listen", cfg.Listen)
		return out, nil
	}
	names := make([]string, 0, len(cfg.Sources))
	for name := range cfg.Sources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sc := cfg.Sources[name]
		if sc.Disabled {
			continue
		}
		var src web.Source
		key := name
		if dec, ok := builtin[name]; ok {
			if sc.Generic != nil {
				errs = append(errs, fmt.Errorf("sources.%s: generic: only for generic sources, not the built-in %s", name, name))
			}
			src.Decoder = dec
		} else {
			if sc.Generic == nil {
				errs = append(errs, fmt.Errorf("sources.%s: not a built-in source, so it needs generic: (the field mapping)", name))
				continue
			}
			dec, err := sources.NewGeneric(name, *sc.Generic)
			if err != nil {
				errs = append(errs, fmt.Errorf("sources.%s.generic: %w", name, err))
				continue
			}
			src.Decoder = dec
			key = "generic/" + name
		}
		switch {
		case sc.Auth != nil:
			a, err := auth.New(*sc.Auth)
			if err != nil {
				errs = append(errs, fmt.Errorf("sources.%s.auth: %w", name, err))
				continue
			}
			src.Auth = a
		case sc.Insecure:
			log.Warn("source accepts unauthenticated requests (insecure: true)", "source", name)
		default:
			errs = append(errs, fmt.Errorf("sources.%s: no auth configured; add auth: or, knowingly, insecure: true", name))
			continue
		}
		if rl := sc.RateLimit; rl != nil {
			if rl.PerSecond <= 0 {
				errs = append(errs, fmt.Errorf("sources.%s.rate_limit.per_second: must be positive", name))
				continue
			}
			src.Limiter = rate.NewLimiter(rate.Limit(rl.PerSecond), max(1, rl.Burst))
		}
		src.MaxBodyBytes = sc.MaxBodyBytes
		out[key] = src
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// loopbackAddr reports whether a host:port (a listen address or a TCP
// peer) is on the loopback interface.
func loopbackAddr(hostport string) bool {
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
