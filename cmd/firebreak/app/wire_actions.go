package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/builtin"
	"github.com/firebreak/firebreak/actions/firewall"
	"github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/actions/outbound"
	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/playbooks"
)

// ActionsConfig is the `actions:` section: what the built-in actions drive.
type ActionsConfig struct {
	Kubernetes struct {
		// Kubeconfig is a kubeconfig path; empty searches $KUBECONFIG,
		// ~/.kube/config, then the in-cluster service account.
		Kubeconfig string `yaml:"kubeconfig"`
		Context    string `yaml:"context"`
		InCluster  bool   `yaml:"in_cluster"`
		// ProtectedNamespaces no action may touch (default kube-system,
		// kube-public, kube-node-lease).
		ProtectedNamespaces []string `yaml:"protected_namespaces"`
	} `yaml:"kubernetes"`
	Slack struct {
		Token          string `yaml:"token"`
		TokenEnv       string `yaml:"token_env"`
		TokenFile      string `yaml:"token_file"`
		DefaultChannel string `yaml:"default_channel"`
		LinkBaseURL    string `yaml:"link_base_url"`
		// APIURL overrides Slack's API base URL (tests).
		APIURL string `yaml:"api_url"`
	} `yaml:"slack"`
	// HTTP is the outbound policy of every action that makes HTTP calls
	// (actions/outbound): CIDRs that widen (allow) or narrow (deny) the
	// defaults.
	HTTP struct {
		AllowCIDRs []string `yaml:"allow_cidrs"`
		DenyCIDRs  []string `yaml:"deny_cidrs"`
	} `yaml:"http"`
	Firewall struct {
		// Enabled lets firewall actions change the host's nftables.
		Enabled    bool      `yaml:"enabled"`
		Table      string    `yaml:"table"`
		NetNS      string    `yaml:"netns"`
		Allowlist  []string  `yaml:"allowlist"`
		MaxTTL     *Duration `yaml:"max_ttl"`
		DefaultTTL *Duration `yaml:"default_ttl"`
	} `yaml:"firewall"`
}

// SecretValue resolves a secret given as a literal, an environment
// variable name or a file path (first one set wins). Errors never contain
// the secret.
func SecretValue(literal, env, file string) (string, error) {
	switch {
	case literal != "":
		return literal, nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

// buildActions builds the registry for a config; st may be nil when
// nothing will run (validate, actions, test).
func buildActions(ctx context.Context, cfg Config, st builtin.State, opts Options, log *slog.Logger) (*builtin.Built, error) {
	ac := cfg.Actions
	bc := builtin.Config{HTTPClient: opts.HTTPClient, Now: opts.Now, Logger: log, State: st, FirewallEnabled: ac.Firewall.Enabled}
	bc.HTTP = outbound.Config{AllowCIDRs: ac.HTTP.AllowCIDRs, DenyCIDRs: ac.HTTP.DenyCIDRs}
	bc.Kubernetes = kubernetes.Config{Kubeconfig: ac.Kubernetes.Kubeconfig, Context: ac.Kubernetes.Context, InCluster: ac.Kubernetes.InCluster, ProtectedNamespaces: ac.Kubernetes.ProtectedNamespaces}
	token, err := SecretValue(ac.Slack.Token, ac.Slack.TokenEnv, ac.Slack.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("actions.slack token: %w", err)
	}
	bc.Slack = slack.Config{Token: token, DefaultChannel: ac.Slack.DefaultChannel, LinkBaseURL: ac.Slack.LinkBaseURL, APIURL: ac.Slack.APIURL}
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
	b, err := buildActions(context.Background(), Defaults(), nil, opts, log)
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
