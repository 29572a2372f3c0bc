package app

// setupApprovals wires the approvals feature before the engine is built: it may set
// a.observer, a.guard or a.approver, append to a.closers and register
// background work with a.Go.
func setupApprovals(a *App) error { return nil }

// routesApprovals adds the approvals feature's HTTP routes to a.Web.Router().
func routesApprovals(a *App) {}

// ApprovalsConfig is the configuration file's section for this feature.
type ApprovalsConfig struct{}
