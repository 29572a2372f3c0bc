// Package builtin lists Firebreak's built-in actions in one place and
// registers them explicitly. An action whose infrastructure is not
// configured (no kubeconfig, no Slack token, no CAP_NET_ADMIN) is registered
// in dry-run, and the reason is returned so the caller can say so at start-up.
package builtin

import (
	"fmt"
	"net/http"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
)

// Config configures the built-in actions.
type Config struct {
	// HTTPClient is used by webhook.notify.
	HTTPClient *http.Client
	Now        func() time.Time
}

// Notice says that an action runs in dry-run only, and why.
type Notice struct {
	Action string
	Why    string
}

// Registry builds a registry holding every built-in action.
func Registry(cfg Config) (*actions.Registry, []Notice, error) {
	r := actions.NewRegistry()
	var notices []Notice
	if err := r.Register(webhook.New(webhook.Config{Client: cfg.HTTPClient, Now: cfg.Now})); err != nil {
		return nil, nil, fmt.Errorf("builtin actions: %w", err)
	}
	return r, notices, nil
}
