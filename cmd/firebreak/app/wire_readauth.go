package app

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/audit"
)

// readAuth protects the read-only API: the audit trail and timelines, the
// playbook list, breakers and the kill-switch state. Audit records carry
// what alerts said (hosts, users, addresses, commands), so they are not for
// whoever can reach the port that Alertmanager posts to.
//
// With no token configured (neither guards.api_token nor an approvals
// token), only loopback peers may read, as with the operator endpoints.
// With one, every request needs a bearer token: guards.api_token, or an
// approvals token with the viewer or approver role. /metrics, /healthz and
// /readyz stay open: they carry no event data.
func (a *App) readAuth() gin.HandlerFunc {
	token, err := guardToken(a.Config.Guards)
	broken := err != nil
	f, _ := a.approver.(*approvalsFeature)
	want := sha256.Sum256([]byte(token))
	viewers := f != nil && len(f.tokens) > 0
	return func(c *gin.Context) {
		if broken {
			c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": "the guard API token is not available"})
			return
		}
		if token == "" && !viewers {
			if !loopbackAddr(c.Request.RemoteAddr) {
				c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "configure guards.api_token, or an approvals token with the viewer role, to read this from another host"})
				return
			}
			c.Next()
			return
		}
		given, found := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		given = strings.TrimSpace(given)
		if found && given != "" {
			sum := sha256.Sum256([]byte(given))
			if token != "" && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
				c.Next()
				return
			}
			if viewers {
				for i := range f.tokens {
					t := &f.tokens[i]
					if subtle.ConstantTimeCompare(sum[:], t.hash[:]) == 1 && (t.roles[RoleViewer] || t.roles[RoleApprover]) {
						c.Next()
						return
					}
				}
			}
		}
		_ = a.DB.Audit(c.Request.Context(), audit.Record{Kind: audit.KindAuthFailed, Source: "api", Outcome: "unauthorized",
			Message: c.Request.Method + " " + c.FullPath() + ": missing or unknown bearer token", Actor: c.ClientIP()})
		c.Header("WWW-Authenticate", `Bearer realm="firebreak"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "a valid bearer token is required: guards.api_token, or an approvals token with the viewer or approver role"})
	}
}
