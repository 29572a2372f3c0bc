package app

// setupGuards wires the guards feature before the engine is built: it may set
// a.observer, a.guard or a.approver, append to a.closers and register
// background work with a.Go.
func setupGuards(a *App) error { return nil }

// routesGuards adds the guards feature's HTTP routes to a.Web.Router().
func routesGuards(a *App) {}

// GuardsConfig is the configuration file's section for this feature.
type GuardsConfig struct{}
