package app

import (
	"context"
	"fmt"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine/guard"
)

// setupGuards builds the guard from the validated configuration and hands
// it to the engine; it starts the breaker notifier and the state sweeper.
func setupGuards(a *App) error {
	gc := a.Config.Guards
	cfg := guard.Config{
		Store: a.DB, Registry: a.Registry, Paused: gc.Paused,
		ProtectedNamespaces: gc.Protected.Namespaces, ProtectedLabels: gc.Protected.Labels, ProtectedCIDRs: gc.Protected.CIDRs,
		MaxActions: a.res.MaxActions, MaxTargets: a.res.MaxTargets, Bounds: a.res.Bounds,
		Logger: a.log.With("component", "guard"),
	}
	if gc.Notify != nil {
		// Checked by config.Validate against the same built-in actions.
		n, err := config.NewNotifier(a.Registry, *gc.Notify)
		if err != nil {
			return fmt.Errorf("guards.notify: %w", err)
		}
		cfg.Notifier = n
		if gc.Notify.Action == "slack.notify" && a.Actions != nil && a.Actions.Slack != nil && a.Actions.Slack.Available() == nil {
			// Firebreak's own message, with a Reset button that comes
			// back to /slack/interactions.
			channel, _ := gc.Notify.With["channel"].(string)
			cfg.Notifier = &slackBreakerNotifier{c: a.Actions.Slack, channel: channel}
		}
	}
	g, err := guard.New(cfg)
	if err != nil {
		return fmt.Errorf("guards: %w", err)
	}
	if gc.Paused {
		a.log.Warn("execution is paused by the configuration (guards.paused): events are accepted and audited, nothing runs")
	}
	a.guard = g
	if sn, ok := cfg.Notifier.(*slackBreakerNotifier); ok {
		r := &slackBreakerReset{guard: g, c: sn.c, audit: a.DB.Audit, now: a.opts.Now, log: a.log.With("component", "breaker_reset")}
		// The approval gate, built after the guard, holds the allow-list.
		r.allowed = func(ctx context.Context, userID string) (bool, error) {
			if a.approvals == nil {
				return false, nil
			}
			return a.approvals.Allowed(ctx, userID)
		}
		a.breakerReset = r
		a.closers = append(a.closers, r.Close)
	}
	a.GoLeader(func(ctx context.Context) { g.RunNotifier(ctx, 30*time.Second) })
	a.GoLeader(func(ctx context.Context) { g.RunSweeper(ctx, 10*time.Minute) })
	return nil
}
