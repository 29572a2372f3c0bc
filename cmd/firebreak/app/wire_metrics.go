package app

// setupMetrics wires the metrics feature before the engine is built: it may set
// a.observer, a.guard or a.approver, append to a.closers and register
// background work with a.Go.
func setupMetrics(a *App) error { return nil }

// routesMetrics adds the metrics feature's HTTP routes to a.Web.Router().
func routesMetrics(a *App) {}

// AuditConfig is the configuration file's section for this feature.
type AuditConfig struct{}
