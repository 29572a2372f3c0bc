package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/audit"
)

// Role is what an API token may do. Each role includes the ones below it.
type Role int

// The API's roles, weakest first.
const (
	// RoleViewer reads the audit trail, timelines, guard state, approvals
	// and playbooks.
	RoleViewer Role = iota + 1
	// RoleApprover is a viewer that also decides approvals.
	RoleApprover
	// RoleOperator is an approver that also pauses and resumes, resets
	// breakers, reloads playbooks, replays and handles dead letters.
	RoleOperator
)

// String returns the role's configuration name.
func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleApprover:
		return "approver"
	case RoleOperator:
		return "operator"
	}
	return "none"
}

// ParseRole reads a role's configuration name.
func ParseRole(s string) (Role, bool) {
	for _, r := range []Role{RoleViewer, RoleApprover, RoleOperator} {
		if s == r.String() {
			return r, true
		}
	}
	return 0, false
}

// APIToken is one caller of the API: its name (the audit trail's actor,
// api:NAME), its role and its secret bearer token.
type APIToken struct {
	Name   string
	Role   Role
	Secret string
}

// AuditWriter is what the API needs to record refusals and decisions.
type AuditWriter interface {
	Audit(ctx context.Context, recs ...audit.Record) error
}

// callerKey is the gin context key of the authenticated token's name.
const callerKey = "firebreak.api_caller"

// apiAuth is the one authentication of /api/v1: a table of hashed tokens.
type apiAuth struct {
	tokens []hashedToken
	// openReads lets viewer routes answer loopback peers when no token is
	// configured and the server listens on loopback only.
	openReads bool
	audit     func(ctx context.Context, r audit.Record)
}

type hashedToken struct {
	name string
	role Role
	hash [sha256.Size]byte
}

func newAPIAuth(tokens []APIToken, openReads bool, audit func(context.Context, audit.Record)) *apiAuth {
	a := &apiAuth{openReads: openReads && len(tokens) == 0, audit: audit}
	for _, t := range tokens {
		a.tokens = append(a.tokens, hashedToken{name: t.Name, role: t.Role, hash: sha256.Sum256([]byte(t.Secret))})
	}
	return a
}

// require returns the middleware of a route that needs role. With tokens
// configured, a bearer token must match one (compared in constant time
// over SHA-256 digests, every token compared, so neither content, length
// nor position leaks) and hold the role; 401 without a match, 403 without
// the role. With none configured, only viewer routes answer, and only to
// loopback peers of a loopback listener; everything else is 403, naming
// api.tokens. Every refusal is audited with the peer address or the
// token's name, never the token.
func (a *apiAuth) require(role Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		peer := peerAddr(c.Request)
		what := c.Request.Method + " " + c.FullPath()
		if len(a.tokens) == 0 {
			if role == RoleViewer && a.openRead(c.Request) {
				c.Next()
				return
			}
			msg := "no API tokens are configured: add api.tokens with a token of the " + role.String() + " role to use this endpoint"
			if role == RoleViewer && a.openReads {
				msg = "configure api.tokens (a token with the viewer role) to read this from another host"
			}
			a.refuse(c, "forbidden", what+": no api.tokens configured", peer)
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": msg, "role": role.String()})
			return
		}
		scheme, given, _ := strings.Cut(strings.TrimSpace(c.GetHeader("Authorization")), " ")
		var match *hashedToken
		if strings.EqualFold(scheme, "Bearer") {
			match = a.lookup(given)
		}
		if match == nil {
			a.refuse(c, "unauthorized", what+": missing or unknown bearer token", peer)
			c.Header("WWW-Authenticate", `Bearer realm="firebreak"`)
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "unauthorized: a valid bearer token (api.tokens) is required"})
			return
		}
		if match.role < role {
			a.refuse(c, "forbidden", what+": the token's role "+match.role.String()+" is below "+role.String(), "api:"+match.name)
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "forbidden: the token lacks the " + role.String() + " role", "role": role.String()})
			return
		}
		c.Set(callerKey, match.name)
		c.Next()
	}
}

// lookup returns the token whose secret is given, or nil. It compares in
// constant time over SHA-256 digests and compares every token, so neither
// content, length nor position leaks. The API middleware and the
// dashboard's sign-in share it.
func (a *apiAuth) lookup(given string) *hashedToken {
	given = strings.TrimSpace(given)
	if given == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(given))
	var match *hashedToken
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].hash[:]) == 1 {
			match = &a.tokens[i]
		}
	}
	return match
}

// byName returns the token named name, or nil.
func (a *apiAuth) byName(name string) *hashedToken {
	for i := range a.tokens {
		if a.tokens[i].name == name {
			return &a.tokens[i]
		}
	}
	return nil
}

// openRead reports whether a viewer request from r is allowed without a
// token: no token configured, a loopback listener and a loopback peer.
func (a *apiAuth) openRead(r *http.Request) bool {
	return len(a.tokens) == 0 && a.openReads && loopbackPeer(peerAddr(r))
}

func (a *apiAuth) refuse(c *gin.Context, outcome, msg, actor string) {
	if a.audit != nil {
		a.audit(context.WithoutCancel(c.Request.Context()), audit.Record{Kind: audit.KindAuthFailed, Source: "api", Outcome: outcome, Message: msg, Actor: actor})
	}
}

// callerName returns the authenticated token's name; "" when the route
// was opened without a token.
func callerName(c *gin.Context) string {
	return c.GetString(callerKey)
}

// apiActor names who called the API for the audit trail: api:NAME of the
// token, preceded by the X-Firebreak-Actor header when given (trusted only
// as far as the token is): "alice (api:oncall-bot)".
func apiActor(c *gin.Context) string {
	who := "api:" + callerName(c)
	if callerName(c) == "" {
		who = "api@" + peerAddr(c.Request)
	}
	name := strings.TrimSpace(c.GetHeader("X-Firebreak-Actor"))
	if len(name) > 64 {
		name = name[:64]
	}
	if name == "" {
		return who
	}
	return name + " (" + who + ")"
}

// peerAddr is the TCP peer's address, never a forwarded header.
func peerAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func loopbackPeer(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
