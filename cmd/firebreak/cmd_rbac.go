package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"

	"github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/playbooks"
)

// cmdRBAC prints the minimal Kubernetes ClusterRole the loaded playbooks
// need: only the verbs and resources of the Kubernetes actions they use.
func cmdRBAC(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rbac", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML); its playbooks are used")
	pbDir := fs.String("playbooks", "", "playbook directory or file (default: the config's, else the embedded examples)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: firebreak rbac [--config FILE] [--playbooks DIR|FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // asked for: the usage is the answer
		}
		return 2
	}
	cfg, err := configOrDefaults(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	if *pbDir != "" {
		cfg.Playbooks = []string{*pbDir}
	}
	reg, err := app.Registry(app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	set, _, err := app.LoadPlaybooks(cfg, reg)
	if err != nil {
		var ps playbooks.Problems
		if errors.As(err, &ps) {
			fmt.Fprintln(stderr, ps.Error())
			return 1
		}
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	ids := UsedActions(set)
	role := kubernetes.ClusterRole(ids)
	out, err := kubernetes.ClusterRoleYAML(role)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}

// UsedActions lists the action ids the playbooks' steps use, sorted.
func UsedActions(set *playbooks.Set) []string {
	seen := map[string]bool{}
	for _, p := range set.Playbooks {
		for _, s := range append(append([]*playbooks.Step{}, p.Steps...), p.OnResolved...) {
			seen[s.Action] = true
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
