package builtin

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/firewall"
	"github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/actions/outbound"
	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/actions/webhook"
)

// Config configures the built-in actions.
type Config struct {
	// HTTP configures the outbound policy of every action that makes HTTP
	// calls (webhook.notify, Slack).
	HTTP outbound.Config
	// HTTPTLS is the TLS of webhook.notify's and Slack's calls (a private
	// CA bundle, a client certificate): actions.http.tls. Nil uses the
	// system's roots and no client certificate.
	HTTPTLS *tls.Config
	// HTTPClient, when set, replaces webhook.notify's policed client: only
	// for tests that route requests themselves.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
	// State persists firewall blocks and Slack threads; nil keeps them in
	// memory (CLI commands that only describe actions).
	State State

	Kubernetes kubernetes.Config
	// Slack's Token empty means slack.notify runs in dry-run.
	Slack slack.Config
	// FirewallEnabled must be set for firewall actions to touch the host's
	// nftables; otherwise they run in dry-run.
	FirewallEnabled bool
	Firewall        firewall.Config
}

// Notice says that an action runs in dry-run only, and why.
type Notice struct {
	Action string
	Why    string
}

// Built holds the registry and the integrations that need more wiring
// (the firewall's Restore at start-up, the Slack client for approvals).
type Built struct {
	Registry *actions.Registry
	Notices  []Notice
	Slack    *slack.Client
	// SlackHTTP is the client every call to Slack goes through: the
	// outbound policy (actions.http allow/deny CIDRs) and actions.http.tls.
	// The approvals' own bot client uses it too.
	SlackHTTP *http.Client
	Firewall  *firewall.Firewall
	Cluster   *kubernetes.Cluster
}

// Registry builds a registry holding every built-in action.
func Registry(ctx context.Context, cfg Config) (*Built, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Built{Registry: actions.NewRegistry()}
	add := func(a actions.Action, dryRunWhy string) error {
		if dryRunWhy != "" {
			b.Notices = append(b.Notices, Notice{Action: a.Spec().ID, Why: dryRunWhy})
			return b.Registry.RegisterDryRun(a, dryRunWhy)
		}
		return b.Registry.Register(a)
	}

	policy, err := outbound.New(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("builtin actions: actions.http.%w", err)
	}
	if err := add(webhook.New(webhook.Config{Outbound: outbound.NewClient(policy, cfg.HTTPTLS), Client: cfg.HTTPClient, Now: cfg.Now}), ""); err != nil {
		return nil, fmt.Errorf("builtin actions: %w", err)
	}

	// Kubernetes: live when a cluster is configured, otherwise offline in dry-run.
	kcfg := cfg.Kubernetes
	if kcfg.Now == nil {
		kcfg.Now = cfg.Now
	}
	why := ""
	if ok, msg := kubernetes.Available(kcfg); ok {
		c, err := kubernetes.New(kcfg)
		if err != nil {
			return nil, fmt.Errorf("builtin actions: %w", err)
		}
		b.Cluster = c
	} else {
		b.Cluster = kubernetes.Offline(kcfg)
		why = msg
	}
	for _, a := range b.Cluster.Actions() {
		if err := add(a, why); err != nil {
			return nil, fmt.Errorf("builtin actions: %w", err)
		}
	}

	// Slack: dry-run without a bot token.
	scfg := cfg.Slack
	if scfg.Logger == nil {
		scfg.Logger = cfg.Logger
	}
	if scfg.HTTPClient == nil {
		scfg.HTTPClient = policy.HTTPClient(outbound.Literal, cfg.HTTPTLS)
		scfg.HTTPClient.Timeout = 30 * time.Second
	}
	if scfg.Threads == nil && cfg.State != nil {
		scfg.Threads = threadStore{cfg.State}
	}
	b.SlackHTTP = scfg.HTTPClient
	b.Slack = slack.New(scfg)
	why = ""
	if err := b.Slack.Available(); err != nil {
		why = err.Error()
	}
	if err := add(b.Slack.Notify(), why); err != nil {
		return nil, fmt.Errorf("builtin actions: %w", err)
	}

	// Firewall: opt-in, since it changes the host's packet filter.
	fcfg := cfg.Firewall
	if fcfg.Now == nil {
		fcfg.Now = cfg.Now
	}
	if fcfg.Logger == nil {
		fcfg.Logger = cfg.Logger
	}
	if fcfg.Store == nil && cfg.State != nil {
		fcfg.Store = blockStore{cfg.State}
	}
	fw, err := firewall.New(fcfg)
	if err != nil {
		return nil, fmt.Errorf("builtin actions: %w", err)
	}
	why = ""
	switch {
	case !cfg.FirewallEnabled:
		why = "firewall actions are not enabled (actions.firewall.enabled: false)"
	default:
		if err := fw.Available(ctx); err != nil {
			why = err.Error()
		} else {
			b.Firewall = fw
		}
	}
	for _, a := range []actions.Action{fw.BlockAction(), fw.UnblockAction()} {
		if err := add(a, why); err != nil {
			return nil, fmt.Errorf("builtin actions: %w", err)
		}
	}
	return b, nil
}
