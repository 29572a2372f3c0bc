package app

import (
	"context"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"log/slog"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/builtin"
	"github.com/firebreak/firebreak/actions/firewall"
	"github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/playbooks"
)

// buildActions builds the registry for a config; st may be nil when
// nothing will run (validate, actions, test).
func buildActions(ctx context.Context, cfg Config, res *config.Resolved, st builtin.State, opts Options, log *slog.Logger) (*builtin.Built, error) {
	ac := cfg.Actions
	bc := builtin.Config{HTTPClient: opts.HTTPClient, Now: opts.Now, Logger: log, State: st, FirewallEnabled: ac.Firewall.Enabled}
	bc.Kubernetes = kubernetes.Config{Kubeconfig: ac.Kubernetes.Kubeconfig, Context: ac.Kubernetes.Context, InCluster: ac.Kubernetes.InCluster, ProtectedNamespaces: ac.Kubernetes.ProtectedNamespaces}
	bc.Slack = slack.Config{Token: res.SlackToken, DefaultChannel: ac.Slack.DefaultChannel, LinkBaseURL: ac.Slack.LinkBaseURL, APIURL: ac.Slack.APIURL}
	bc.Firewall = firewall.Config{Table: ac.Firewall.Table, NetNS: ac.Firewall.NetNS, Allowlist: ac.Firewall.Allowlist}
	if ac.Firewall.MaxTTL != nil {
		bc.Firewall.MaxTTL = ac.Firewall.MaxTTL.D()
	}
	if ac.Firewall.DefaultTTL != nil {
		bc.Firewall.DefaultTTL = ac.Firewall.DefaultTTL.D()
	}
	return builtin.Registry(ctx, bc)
}

// Registry builds the action registry for commands that only describe or
// validate (nothing runs, nothing is stored).
func Registry(opts Options, log *slog.Logger) (*actions.Registry, error) {
	b, err := buildActions(context.Background(), Defaults(), &config.Resolved{}, nil, opts, log)
	if err != nil {
		return nil, err
	}
	return b.Registry, nil
}

// checkKubernetesAccess asks the API server whether Firebreak's identity
// holds every permission the loaded playbooks' Kubernetes actions need,
// and warns of each one missing. It never stops the server.
func checkKubernetesAccess(ctx context.Context, c *kubernetes.Cluster, set *playbooks.Set, log *slog.Logger) {
	seen := map[string]bool{}
	var ids []string
	for _, p := range set.Playbooks {
		for _, s := range append(append([]*playbooks.Step{}, p.Steps...), p.OnResolved...) {
			if !seen[s.Action] {
				seen[s.Action] = true
				ids = append(ids, s.Action)
			}
		}
	}
	role := kubernetes.ClusterRole(ids)
	if len(role.Rules) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	warnings, err := kubernetes.CheckAccess(ctx, c.Client(), role.Rules)
	if err != nil {
		log.Warn("could not check kubernetes permissions", "error", err)
		return
	}
	for _, w := range warnings {
		log.Warn(w, "hint", "firebreak rbac prints the ClusterRole to bind")
	}
	if len(warnings) == 0 {
		log.Info("kubernetes permissions checked: all present", "rules", len(role.Rules))
	}
}
