package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/firebreak/firebreak/actions/kubernetes"
	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/playbooks"
)

// cmdRBAC prints the minimal Kubernetes ClusterRole the loaded playbooks
// need: for each step, only the resources of the kinds it can name and the
// verbs its action uses. Clustered mode needs nothing more: its replicas
// elect their leader in etcd, not with Kubernetes Leases.
func cmdRBAC(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rbac", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML); its playbooks are used")
	pbDir := fs.String("playbooks", "", "playbook directory or file (default: the config's, else the embedded examples)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: firebreak rbac [--config FILE] [--playbooks DIR|FILE]")
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
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
	role := kubernetes.ClusterRoleFor(app.KubernetesUses(set))
	out, err := kubernetes.ClusterRoleYAML(role)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak:", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}
