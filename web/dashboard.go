package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

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

// Authenticate implements dashboard.Authenticator. The identity's
// credential is a fresh random salt and the HMAC-SHA256 of it keyed with
// the token's digest: Current can check it against the token table of the
// day, and it never lets anyone sign in (it is not the token, nor the
// digest the table compares).
func (d dashAuth) Authenticate(token string) (dashboard.Identity, bool) {
	t := d.a.lookup(token)
	if t == nil {
		return dashboard.Identity{}, false
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go ≥ 1.24)
	cred := credentialPrefix + base64.RawURLEncoding.EncodeToString(salt) + "." + base64.RawURLEncoding.EncodeToString(credentialMAC(t, salt))
	return dashboard.Identity{Name: t.name, Roles: dashRoles(t.role), Credential: cred}, true
}

// credentialPrefix versions the credential fingerprint.
const credentialPrefix = "v1."

func credentialMAC(t *hashedToken, salt []byte) []byte {
	m := hmac.New(sha256.New, t.hash[:])
	m.Write([]byte("firebreak dashboard session\x00"))
	m.Write(salt)
	return m.Sum(nil)
}

// Current implements dashboard.Authenticator: a session signed in with a
// token lives on while a token of that name, with the same secret, is
// configured, with that token's role of now; an anonymous one while the
// request would be let in anonymously.
func (d dashAuth) Current(r *http.Request, id dashboard.Identity) (dashboard.Identity, bool) {
	if id.Credential == "" {
		return d.Anonymous(r)
	}
	rest, ok := strings.CutPrefix(id.Credential, credentialPrefix)
	s64, m64, ok2 := strings.Cut(rest, ".")
	salt, err1 := base64.RawURLEncoding.DecodeString(s64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	t := d.a.byName(id.Name)
	if !ok || !ok2 || err1 != nil || err2 != nil || t == nil || !hmac.Equal(mac, credentialMAC(t, salt)) {
		return dashboard.Identity{}, false
	}
	return dashboard.Identity{Name: t.name, Roles: dashRoles(t.role), Credential: id.Credential}, true
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
