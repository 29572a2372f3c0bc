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
	}
	g, err := guard.New(cfg)
	if err != nil {
		return fmt.Errorf("guards: %w", err)
	}
	if gc.Paused {
		a.log.Warn("execution is paused by the configuration (guards.paused): events are accepted and audited, nothing runs")
	}
	a.guard = g
	a.Go(func(ctx context.Context) { g.RunNotifier(ctx, 30*time.Second) })
	a.Go(func(ctx context.Context) { g.RunSweeper(ctx, 10*time.Minute) })
	return nil
}
