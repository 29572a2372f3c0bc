package web

import (
	"context"
	"net/http"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/web/dashboard"
)

// mountDashboard serves the dashboard (package dashboard) on the server's
// router. The server supplies what belongs to the API: the sign-in is the
// API's token table (dashAuth), refused sign-ins are audited like refused
// API calls, and decisions and guard actions go through the same parts as
// the API's, with the same actor names. The caller's deps give the rest;
// anything it leaves nil that the server has (Approvals, Guards, Redact) is
// filled from the server's Config.
func (s *Server) mountDashboard(deps dashboard.Deps) {
	deps.Auth = dashAuth{s.auth}
	if deps.OnAuthFailure == nil {
		deps.OnAuthFailure = func(remote, msg string) {
			s.auditRecord(context.Background(), audit.Record{Kind: audit.KindAuthFailed, Source: "dashboard", Outcome: "unauthorized", Message: msg, Actor: remote})
		}
	}
	if deps.Approvals == nil && s.cfg.Approvals != nil {
		deps.Approvals = dashApprovals{s.cfg.Approvals}
	}
	if deps.Guards == nil && s.cfg.Guards != nil {
		deps.Guards = s.cfg.Guards
	}
	if deps.Redact == nil {
		deps.Redact = s.cfg.Redact // the same redactor as the API's answers
	}
	if deps.Logger == nil {
		deps.Logger = s.log.With("component", "dashboard")
	}
	if deps.Now == nil {
		deps.Now = s.cfg.Now
	}
	d, err := dashboard.Mount(s.router, deps)
	if err != nil {
		s.log.Error("the dashboard is not served", "error", err)
		return
	}
	s.dash = d
}

// dashAuth is dashboard.Authenticator over the API's token table: a token
// of api.tokens signs in with its name and role, and without tokens the
// dashboard opens exactly when the API's viewer routes do (a loopback
// listener and a loopback peer), for reading only.
type dashAuth struct{ a *apiAuth }

// Authenticate implements dashboard.Authenticator.
func (d dashAuth) Authenticate(token string) (dashboard.Identity, bool) {
	t := d.a.lookup(token)
	if t == nil {
		return dashboard.Identity{}, false
	}
	return dashboard.Identity{Name: t.name, Roles: dashRoles(t.role)}, true
}

// Anonymous implements dashboard.Authenticator.
func (d dashAuth) Anonymous(r *http.Request) (dashboard.Identity, bool) {
	if !d.a.openRead(r) {
		return dashboard.Identity{}, false
	}
	return dashboard.Identity{Name: "local", Roles: dashRoles(RoleViewer)}, true
}

// dashRoles lists role and the roles it includes.
func dashRoles(role Role) []dashboard.Role {
	names := []dashboard.Role{dashboard.RoleViewer, dashboard.RoleApprover, dashboard.RoleOperator}
	var out []dashboard.Role
	for i, r := range []Role{RoleViewer, RoleApprover, RoleOperator} {
		if role >= r {
			out = append(out, names[i])
		}
	}
	return out
}

// dashApprovals adapts the approvals API's gate to the dashboard.
type dashApprovals struct{ ap Approvals }

func (d dashApprovals) ListApprovals(ctx context.Context, status approval.Status) ([]approval.Approval, error) {
	return d.ap.List(ctx, approval.Filter{Status: status})
}

// Decide records the decision as the token's API identity (api:NAME), so
// the two-person rule counts one token once across the API and the
// dashboard.
func (d dashApprovals) Decide(ctx context.Context, id, planHash string, dec approval.Decision, who dashboard.Identity) (approval.Approval, error) {
	return d.ap.Decide(ctx, id, planHash, dec, approval.Actor{ID: "api:" + who.Name, Name: who.Name}, approval.ViaDashboard)
}
